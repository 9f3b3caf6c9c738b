"""The Flamingo training loop, readable top to bottom.

Each optimiser step takes one batch from every dataset (interleaved documents, image-text
pairs, video), adds the gradients of the weighted per-dataset losses, and then steps once:
Flamingo's "accumulation" strategy. Under DDP the gradient all-reduce is skipped
(``no_sync``) for all but the last dataset's backward, so a step costs one sync.

The per-dataset loss is the mean over the label tokens of the whole global batch (all
ranks), so N ranks with batch b compute exactly the gradients of one process with batch
N x b. A step whose loss or gradient norm is not finite on any rank is skipped on every
rank alike (a flag is all-reduced), so replicas never diverge. Checkpoints hold the
loader positions, so a resumed run continues with the batches it would have seen.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

from flamboyance.flamingo_model import checkpoint
from flamboyance.flamingo_model.config import TrainConfig
from flamboyance.flamingo_model.flops import ModelFlops, peak_flops
from flamboyance.flamingo_model.model import Flamingo
from flamboyance.pretrain_encoder.run_log import RunLog
from flamboyance.shards.config import to_dict
from flamboyance.shards.distributed import rank_and_world

log = logging.getLogger(__name__)

# Checkpoints hold full (unsharded) tensors of the trainable parameters only, keyed by name,
# so the same file loads into one process, DDP or FSDP.
SAVE = StateDictOptions(full_state_dict=True, ignore_frozen_params=True)
LOAD = StateDictOptions(full_state_dict=True, strict=False)

MODEL_INPUTS = ("input_ids", "attention_mask", "media_index", "images", "image_mask")


@dataclass
class TrainDataset:
    """One source of batches (a ``shards.loader.reader.ShardLoader`` or any re-iterable of batches) and its loss weight."""

    name: str
    weight: float
    loader: Iterable[dict[str, torch.Tensor]]


class BatchStream:
    """Endless batches from a re-iterable loader, starting a new epoch when one ends; resumable."""

    def __init__(self, dataset: TrainDataset) -> None:
        self.dataset, self.consumed, self._iterator = dataset, 0, None
        self._skip = 0

    def __next__(self) -> dict[str, torch.Tensor]:
        fresh = False
        while True:
            if self._iterator is None:
                self._iterator, fresh = iter(self.dataset.loader), True
            try:
                batch = next(self._iterator)
            except StopIteration:
                if fresh:
                    raise ValueError(f"dataset {self.dataset.name!r} yields no batches") from None
                self._iterator = None
                continue
            if self._skip:
                self._skip -= 1
                continue
            self.consumed += 1
            return batch

    def state_dict(self) -> dict[str, Any]:
        loader = self.dataset.loader
        return {"consumed": self.consumed, "loader": loader.state_dict() if hasattr(loader, "state_dict") else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.consumed = state["consumed"]
        if state["loader"] is not None:
            self.dataset.loader.load_state_dict(state["loader"])
        else:  # a plain sequence of batches: skip what was already used in its current pass
            self._skip = self.consumed % len(self.dataset.loader)


def all_reduce(value: torch.Tensor, op: Any = None) -> torch.Tensor:
    """Sum (or ``op``) over ranks; the value itself in a single process."""
    if rank_and_world()[1] > 1:
        value = value.clone()
        dist.all_reduce(value, op=op or dist.ReduceOp.SUM)
    return value


def wrap(model: Flamingo, config: TrainConfig, device: torch.device) -> torch.nn.Module:
    """The module to call: DDP, or FSDP (sharding each decoder layer, the resampler and the rest), under torchrun.

    Only trainable parameters reach the optimiser (``Flamingo.parameter_groups``), so the
    frozen LM holds no optimiser state under any wrapping. With bf16 on a GPU, FSDP
    gathers parameters in bf16 and reduces gradients in fp32.
    """
    if rank_and_world()[1] == 1:
        return model
    if config.parallel == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        from flamboyance.flamingo_model.lm_adapter import decoder_layers

        bf16 = device.type == "cuda" and config.precision == "bf16"
        options = {"mp_policy": MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)} if bf16 else {}
        for layer in decoder_layers(model.lm):
            fully_shard(layer, **options)
        fully_shard(model.resampler, **options)
        return fully_shard(model, **options)
    if config.parallel != "ddp":
        raise ValueError(f"parallel must be 'ddp' or 'fsdp', not {config.parallel!r}")
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def frozen_to(model: Flamingo, dtype: torch.dtype) -> None:
    """Store the frozen weights (LM, vision encoder) in ``dtype``; trainable ones stay fp32 masters.

    Frozen weights never take an optimiser step, so bf16 loses nothing: it halves their
    memory and spares autocast a cast of every weight at every call.
    """
    for parameter in model.parameters():
        if not parameter.requires_grad:
            parameter.data = parameter.data.to(dtype)


def compile_blocks(model: Flamingo) -> None:
    """``torch.compile`` each frozen decoder layer, each cross-attention block and the resampler, in place.

    Per block, as FSDP wants, and in place (``Module.compile``) so parameter names, and
    with them checkpoints, stay the same. The LM's own forward (masks, positions) and
    the vision encoder run eagerly.
    """
    from flamboyance.flamingo_model.lm_adapter import decoder_layers

    for layer in decoder_layers(model.lm):
        layer.layer.compile()
        if layer.block is not None:
            layer.block.compile()
    model.resampler.compile()


@contextlib.contextmanager
def gradient_sync(module: torch.nn.Module, enabled: bool) -> Iterator[None]:
    """Within the block, backward passes sync gradients across ranks only if ``enabled`` (DDP's no_sync, FSDP's equivalent)."""
    if enabled or rank_and_world()[1] == 1:
        yield
    elif hasattr(module, "set_requires_gradient_sync"):  # FSDP
        module.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            module.set_requires_gradient_sync(True)
    else:
        with module.no_sync():
            yield


def token_loss(module: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of next-token losses over label tokens, number of label tokens) of one batch."""
    logits = module(**{k: batch[k] for k in MODEL_INPUTS if k in batch}, use_cache=False).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    total = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="sum")
    return total, (labels != -100).sum()


def log_metrics(record: dict[str, Any]) -> dict[str, float]:
    """A step record as flat numbers for the run log: ``loss/DATASET``, grad norm, lr, tokens/s, MFU."""
    flat = {f"loss/{name}": value for name, value in record["losses"].items()}
    flat.update({key: float(record[key]) for key in ("grad_norm", "lr", "tokens_per_s", "mfu", "skipped") if key in record})
    return flat


def train(
    model: Flamingo,
    datasets: list[TrainDataset],
    config: TrainConfig,
    device: torch.device | str = "cpu",
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` for ``config.steps`` optimiser steps, resuming from ``config.output`` if it holds a checkpoint.

    Returns one record per step run here: step, per-dataset losses, grad norm, lr,
    tokens/s, MFU (GPU) and whether the step was skipped.
    """
    device = torch.device(device)
    rank, world_size = rank_and_world()
    model.to(device).train()
    use_bf16 = device.type == "cuda" and config.precision == "bf16"
    if use_bf16 and not (world_size > 1 and config.parallel == "fsdp"):  # FSDP casts by its own policy
        frozen_to(model, torch.bfloat16)
    if config.compile:
        compile_blocks(model)
    module = wrap(model, config, device)
    parameters = [p for p in model.parameters() if p.requires_grad]
    # Fused AdamW: one kernel for all parameters instead of several per tensor (GPU only).
    optimizer = torch.optim.AdamW(model.parameter_groups(config.weight_decay), lr=config.lr, fused=device.type == "cuda")
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / max(1, config.warmup_steps)))
    streams = [BatchStream(dataset) for dataset in datasets]

    start = 0
    resume = config.checkpoint.resume
    if resume not in ("latest", "none"):
        raise ValueError(f"checkpoint.resume must be 'latest' or 'none' for Flamingo runs, not {resume!r}")
    state = checkpoint.load_latest(config.output, rank, world_size, announce=rank == 0) if resume == "latest" else None
    if state is not None:
        set_state_dict(module, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"], options=LOAD)
        schedule.load_state_dict(state["schedule"])
        for stream, stream_state in zip(streams, state["streams"]):
            stream.load_state_dict(stream_state)
        torch.set_rng_state(state["rng"])
        start = state["step"]
    run_log = RunLog(config.output, rank == 0, config.log, to_dict(config))

    peak = peak_flops(device)
    count_flops = ModelFlops(model) if peak else None
    history = []
    for step in range(start, config.steps):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        losses, tokens, flops = {}, 0, 0.0
        for number, (dataset, stream) in enumerate(zip(datasets, streams)):
            batch = next(stream)
            flops += count_flops(batch) if count_flops else 0.0  # from shapes, before the copy: no GPU sync
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            last = number == len(datasets) - 1
            with gradient_sync(module, enabled=last):
                with torch.autocast(device.type, torch.bfloat16, enabled=use_bf16):
                    total, count = token_loss(module, batch)
                global_count = all_reduce(count).clamp(min=1)
                # DDP averages gradients over ranks: scale so the result is the global-batch mean.
                (dataset.weight * total * world_size / global_count).backward()
            losses[dataset.name] = (all_reduce(total.detach()) / global_count).item()
            tokens += int(global_count)

        grad_norm = torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
        if hasattr(grad_norm, "full_tensor"):  # FSDP: a sharded norm
            grad_norm = grad_norm.full_tensor()
        bad = not all(math.isfinite(loss) for loss in losses.values()) or not torch.isfinite(grad_norm).item()
        skipped = all_reduce(torch.tensor(float(bad), device=device), dist.ReduceOp.MAX).item() > 0
        if skipped:
            optimizer.zero_grad(set_to_none=True)
            log.warning("step %d skipped: non-finite loss or gradient (%s)", step, losses)
        else:
            optimizer.step()
            schedule.step()

        seconds = time.perf_counter() - started
        record = {
            "step": step + 1,
            "losses": losses,
            "grad_norm": float(grad_norm),
            "lr": schedule.get_last_lr()[0],
            "tokens_per_s": tokens / seconds,
            "skipped": skipped,
        }
        if peak:  # this rank's FLOPs on this rank's GPU (ranks run alike)
            record["mfu"] = flops / seconds / peak
        history.append(record)
        if on_step:
            on_step(record)
        if (step + 1) % config.log.every == 0 or step + 1 == config.steps:
            run_log.write(step + 1, log_metrics(record))

        if config.checkpoint.due(step + 1, config.steps):
            model_state, optimizer_state = get_state_dict(module, optimizer, options=SAVE)
            checkpoint.save_rank(
                config.output,
                step + 1,
                rank,
                {
                    "step": step + 1,
                    "model": model_state,
                    "optimizer": optimizer_state,
                    "schedule": schedule.state_dict(),
                    "streams": [s.state_dict() for s in streams],
                    "rng": torch.get_rng_state(),
                },
            )
            if world_size > 1:
                dist.barrier()
            if rank == 0:
                checkpoint.mark_latest(config.output, step + 1, world_size, config.checkpoint.keep)
    run_log.close()
    return history
