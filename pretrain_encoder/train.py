"""The contrastive pretraining loop, top to bottom: ``train(config)``.

One process per rank (``torchrun`` sets RANK/WORLD_SIZE/LOCAL_RANK, or the caller has
already initialised ``torch.distributed``); one process alone is a world of one. Each
step asks the strategy (``strategies.py``) for its terms, back-propagates the weighted
open_clip ``ClipLoss`` of each, clips the gradient norm, takes one AdamW step and clamps
the logit scale to ln 100, as CLIP does. Everything needed to continue exactly is saved
every ``checkpoint.every`` steps; a run started again in the same output folder resumes
from its newest checkpoint. At the end the image tower and the full open_clip model are
exported (``OUTPUT/export/``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from open_clip.loss import ClipLoss
from torch.nn.parallel import DistributedDataParallel

from flamboyance.pretrain_encoder import checkpoint
from flamboyance.pretrain_encoder.config import EncoderConfig
from flamboyance.pretrain_encoder.data import (
    Augment,
    ImageTensors,
    PairExamples,
    endless,
    pair_loader,
    read_pairs,
)
from flamboyance.pretrain_encoder.evaluate import retrieval, zero_shot
from flamboyance.pretrain_encoder.export import export_open_clip
from flamboyance.pretrain_encoder.image_tower import export_image_tower
from flamboyance.pretrain_encoder.models import build_model, model_config
from flamboyance.pretrain_encoder.optimizer import build_optimizer, build_scheduler
from flamboyance.pretrain_encoder.run_log import RunLog
from flamboyance.pretrain_encoder.strategies import batch_sizes, step_terms
from flamboyance.pretrain_encoder.tokenizer import build_tokenizer
from flamboyance.shards import storage
from flamboyance.shards.config import to_dict
from flamboyance.shards.distributed import init_distributed
from flamboyance.shards.loader.transforms import ImageTransform, ImageTransformConfig

MAX_LOGIT_SCALE = math.log(100)
TOKENIZER_CAPTIONS = 50_000


@dataclass
class Runtime:
    """Where this process runs: its rank in the world and its device and precision."""

    rank: int
    world_size: int
    device: torch.device
    precision: str

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def gather(self, value: Any) -> list[Any]:
        """``value`` from every rank, in rank order (a list of one on a single process)."""
        if self.world_size == 1:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)


def setup(config: EncoderConfig) -> Runtime:
    """Join the process group torchrun describes (if any) and pick the device and precision."""
    rank, world, device = init_distributed(config.device)
    precision = config.precision if config.precision != "auto" else ("bf16" if device.type == "cuda" else "fp32")
    return Runtime(rank, world, device, precision)


def train(config: EncoderConfig) -> dict[str, float]:
    """Run (or resume) pretraining; returns the last evaluation's metrics (on rank 0; {} elsewhere)."""
    runtime = setup(config)
    torch.manual_seed(config.seed)
    datasets = config.active_datasets()
    storage.makedirs(config.output)

    # Model and tokenizer. A tokenizer that has to be trained is trained once, by rank 0.
    resolved = model_config(config.model.name, config.model.image_size, config.model.context_length)
    tokenizer_dir = storage.join(config.output, "tokenizer")

    def captions() -> Iterator[str]:
        return (caption for _, caption in read_pairs(datasets[0].shards, TOKENIZER_CAPTIONS))

    if runtime.main:
        tokenize = build_tokenizer(resolved, tokenizer_dir, captions, config.model.tokenizer_vocab)
    runtime.barrier()
    if not runtime.main:
        tokenize = build_tokenizer(resolved, tokenizer_dir, captions, config.model.tokenizer_vocab)
    model = build_model(resolved).to(runtime.device)
    transform = ImageTransform(ImageTransformConfig.from_preprocess_cfg(model.visual.preprocess_cfg))
    augment = Augment(config.data.augment) if config.data.augment.enabled else None
    eval_images = ImageTensors(transform)
    examples = PairExamples(ImageTensors(transform, augment), tokenize)

    # One streaming loader per dataset; the strategy decides how their batches combine.
    sizes = batch_sizes(config.strategy, datasets, config.data.batch_size)
    loaders = [
        pair_loader(dataset, examples, config.data, size, seed=config.seed + number)
        for number, (dataset, size) in enumerate(zip(datasets, sizes))
    ]
    wrapped = DistributedDataParallel(model) if runtime.world_size > 1 else model
    optimizer = build_optimizer(model, config.optim)
    scheduler = build_scheduler(optimizer, config.optim, config.steps)
    scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.precision == "fp16")
    loss_fn = ClipLoss(
        local_loss=config.loss.local_loss,
        gather_with_grad=config.loss.gather_with_grad,
        cache_labels=True,
        rank=runtime.rank,
        world_size=runtime.world_size,
    )

    start = _resume(config, runtime, model, optimizer, scheduler, scaler, loaders)
    log = RunLog(config.output, runtime.main, config.log, to_dict(config))
    if runtime.main:
        storage.write_json(storage.join(config.output, "config.json"), {"run": to_dict(config), "model": resolved})
    held_out = read_pairs(config.eval.retrieval_shards, config.eval.retrieval_samples) if config.eval.retrieval_shards and runtime.main else []

    def evaluate() -> dict[str, float]:
        model.eval()
        results: dict[str, float] = {}
        if config.eval.zero_shot_folder:
            results |= zero_shot(model, tokenize, eval_images, config.eval.zero_shot_folder, runtime.device, config.eval.batch_size)
        if held_out:
            results |= retrieval(model, tokenize, eval_images, held_out, runtime.device, config.eval.batch_size)
        model.train()
        return results

    sources = [(dataset, endless(loader)) for dataset, loader in zip(datasets, loaders)]
    metrics: dict[str, float] = {}
    model.train()
    clock, seen = time.monotonic(), 0
    for step in range(start, config.steps):
        terms = step_terms(config.strategy, step, sources)
        losses: dict[str, float] = {}
        for number, term in enumerate(terms):
            # With several terms, DDP all-reduces the gradients once, after the last one.
            syncing = number == len(terms) - 1 or runtime.world_size == 1
            with contextlib.nullcontext() if syncing else wrapped.no_sync():
                images = term.batch["image"].to(runtime.device, non_blocking=True)
                texts = term.batch["text"].to(runtime.device, non_blocking=True)
                with runtime.autocast():
                    image_features, text_features, logit_scale = wrapped(images, texts)
                    loss = loss_fn(image_features, text_features, logit_scale)
                scaler.scale(term.weight * loss).backward()
            losses[f"loss/{term.name}"] = loss.item()
            seen += images.shape[0] * runtime.world_size
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip or float("inf"))
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        done = step + 1

        if done % config.log.every == 0 or done == config.steps:
            elapsed = time.monotonic() - clock
            entry = {
                "loss": sum(t.weight * losses[f"loss/{t.name}"] for t in terms),
                **losses,
                "lr": scheduler.get_last_lr()[0],
                "grad_norm": float(grad_norm),
                "logit_scale": model.logit_scale.exp().item(),
                "samples_per_s": seen / elapsed if elapsed > 0 else 0.0,
            }
            log.write(done, entry)
            clock, seen = time.monotonic(), 0
        if runtime.main and (done == config.steps or (config.eval.every and done % config.eval.every == 0)):
            metrics = evaluate()
            if metrics:
                log.write(done, metrics)
        if config.checkpoint.due(done, config.steps):
            _save(config, runtime, done, model, optimizer, scheduler, scaler, loaders)
    if runtime.main and start < config.steps:
        export = storage.join(config.output, "export")
        export_image_tower(model, resolved, storage.join(export, "image_tower"), config.model.name)
        export_open_clip(model, resolved, storage.join(export, "open_clip"), config.model.name)
    log.close()
    return metrics


def _save(config: EncoderConfig, runtime: Runtime, step: int, model, optimizer, scheduler, scaler, loaders) -> None:
    """Gather every rank's generator states and loader positions; rank 0 writes the checkpoint."""
    per_rank = runtime.gather({"rng": checkpoint.rng_state(), "loaders": [loader.state_dict() for loader in loaders]})
    if runtime.main:
        state = {
            "step": step,
            "world_size": runtime.world_size,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "ranks": per_rank,
            "config": to_dict(config),
        }
        checkpoint.save(checkpoint.checkpoint_path(config.output, step), state)
        checkpoint.prune(config.output, config.checkpoint.keep)
    runtime.barrier()


def _resume(config: EncoderConfig, runtime: Runtime, model, optimizer, scheduler, scaler, loaders) -> int:
    """Load the checkpoint ``config.checkpoint.resume`` names, if any; returns the step to continue from."""
    choice = config.checkpoint.resume
    if choice == "none":
        return 0
    if choice == "latest":
        found = checkpoint.list_checkpoints(config.output)
        if not found:
            return 0
        path = found[-1]
    else:
        path = choice
    state = checkpoint.load(path)
    if state["world_size"] != runtime.world_size:
        raise ValueError(f"{path} was saved by {state['world_size']} ranks; resume it with the same number (this run has {runtime.world_size})")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    mine = state["ranks"][runtime.rank]
    checkpoint.set_rng_state(mine["rng"])
    for loader, loader_state in zip(loaders, mine["loaders"]):
        loader.load_state_dict(loader_state)
    if runtime.main:
        checkpoint.announce_resume(path, state["step"])
    return int(state["step"])
