"""FLOPs of one Flamingo training batch, for MFU (model FLOPs utilisation).

MFU = model FLOPs per second / the accelerator's peak. It counts the FLOPs the model
needs, not what the kernels happen to run (activation recomputation is not counted),
so it says how well the hardware is used, whatever the tricks. Only matrix products
are counted (linear layers, attention scores and weighted sums, the vision encoder's
convolutions): peak figures are matmul figures and everything else is a rounding error
at real sizes.

Backward, a product of F forward FLOPs costs F for its input's gradient, only if a
gradient must reach that input, and F for its weight's gradient, only if the weight
trains. Flamingo freezes the LM and the vision encoder, so its parts cost:

* vision encoder: frozen and before any trainable part, so no gradient reaches it:
  forward only, ``1 x F_vision``;
* Perceiver Resampler and GATED XATTN-DENSE blocks: trainable, ``3 x``;
* frozen LM layers and output head: ``2 x`` for their linear layers (forward and input
  gradient, no weight gradient), because gradient flows through every layer down to the
  trainable blocks and the ``<image>``/``<EOC>`` rows of the embedding at the bottom;
  ``3 x`` for their attention products, which have no weights: both operands are
  activations that take gradients;
* the ``<image>``/``<EOC>`` rows: a one-hot [tokens, 2] x [2, d] product, ``2 x``
  (forward and the rows' gradient).

For a batch of B sequences of L tokens, N media slots of R visual tokens, M media items
of T frames actually encoded (V features each):

    FLOPs = F_vision + 3 (F_resampler + F_blocks) + 2 (F_lm + F_rows) + 3 F_lm_attention

    F_vision        = M T f_image      (f_image: the encoder's forward on one image, counted
                                        once by torch.utils.flop_counter: works for any encoder)
    F_resampler     = M sum_layers [2 R (P_q + P_out + P_ff) + 2 C P_kv + 4 R C A],  C = T V + R
    F_blocks        = sum_blocks [2 B L (P_q + P_out + P_ff) + 2 B N R P_kv + 4 B L N R A]
    F_lm            = 2 B L P_lm       (P_lm: weights of the LM's matrix layers and output head)
    F_rows          = 2 B L P_rows
    F_lm_attention  = 4 B L^2 A_lm n_layers

``P_x`` are weight counts (a linear layer of P weights costs 2P per row), ``A`` is heads x
head size of the queries. Attention counts the full L x L square, as the usual MFU
convention (PaLM's) and torch's FLOP counter do, even where a causal kernel skips half.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from flamboyance.flamingo_model.cross_attention import GatedCrossAttentionBlock
from flamboyance.flamingo_model.layers import Attention
from flamboyance.flamingo_model.lm_adapter import TrainableRows, decoder_layers, hidden_size
from flamboyance.flamingo_model.model import Flamingo

# Dense bf16 peak FLOP/s by device name, first match wins (PCIe H100s run slower clocks).
PEAK_FLOPS = {"H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def peak_flops(device: torch.device) -> float | None:
    """The dense bf16 peak of ``device``, or None where unknown (CPUs, unlisted GPUs): no MFU then."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_FLOPS.items() if key in name), None)


@contextlib.contextmanager
def plain_maths() -> Iterator[None]:
    """Attention as plain products the FLOP counter sees: fused kernels (PyTorch's fast
    ``nn.MultiheadAttention`` path, the CPU flash kernel) hide theirs from it."""
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


def matrix_weights(module: nn.Module, skip: tuple[type, ...] = ()) -> int:
    """Weights of the matrix-multiplying layers in ``module`` (Linear, GPT-2's Conv1D), outside ``skip`` subtrees.

    Any layer holding its own 2-D ``weight`` multiplies by it, except embedding lookups.
    """
    total, skipped = 0, set()
    for name, child in module.named_modules():
        if isinstance(child, skip) or any(name.startswith(prefix) for prefix in skipped):
            skipped.add(name + ".")
            continue
        weight = child._parameters.get("weight")
        if weight is not None and weight.dim() == 2 and not isinstance(child, nn.Embedding):
            total += weight.numel()
    return total


def attention_width(attention: Attention) -> int:
    return attention.to_q.out_features


def _dense(attention: Attention, feed_forward: nn.Module) -> int:
    """Weights applied to each query row: queries, output and feed-forward."""
    return attention.to_q.weight.numel() + attention.to_out.weight.numel() + matrix_weights(feed_forward)


class ModelFlops:
    """``ModelFlops(model)(batch)``: the training FLOPs of one batch (formula in the module docstring)."""

    def __init__(self, model: Flamingo) -> None:
        self.model = model
        lm = model.lm
        layers = decoder_layers(lm)
        self.lm_weights = matrix_weights(lm, skip=(GatedCrossAttentionBlock,))
        self.rows = sum(m.rows.numel() for m in lm.modules() if isinstance(m, TrainableRows))
        config = lm.config
        heads = config.num_attention_heads
        self.lm_attention = heads * (getattr(config, "head_dim", None) or hidden_size(lm) // heads) * len(layers)
        self._vision: dict[tuple[int, ...], tuple[float, int]] = {}

    def vision(self, shape: tuple[int, ...]) -> tuple[float, int]:
        """(forward FLOPs, features V) of the vision encoder on one image of ``shape`` [C, H, W]; counted once per shape."""
        if shape not in self._vision:
            from torch.utils.flop_counter import FlopCounterMode

            parameter = next(self.model.vision.parameters())
            probe = torch.zeros(1, *shape, device=parameter.device, dtype=parameter.dtype)
            with plain_maths(), FlopCounterMode(display=False) as counter, torch.no_grad():
                features = self.model.vision.grid(probe)
            self._vision[shape] = (float(counter.get_total_flops()), int(features.shape[1]))
        return self._vision[shape]

    def resampler(self, media: int, frames: int, features: int) -> float:
        resampler = self.model.resampler
        latents = resampler.latents.shape[0]
        context = frames * features + latents
        per_item = sum(
            2 * latents * _dense(attention, feed_forward) + 2 * context * attention.to_kv.weight.numel() + 4 * latents * context * attention_width(attention)
            for attention, feed_forward in resampler.layers
        )
        return float(media * per_item)

    def __call__(self, batch: dict[str, torch.Tensor]) -> float:
        """FLOPs of forward + backward on ``batch`` (the training batch contract: ``input_ids``, ``images``, ...)."""
        sequences, length = batch["input_ids"].shape
        tokens = sequences * length
        total = 2 * (2 * tokens * self.lm_weights + 2 * tokens * self.rows) + 3 * 4 * tokens * length * self.lm_attention
        images = batch.get("images")
        if images is None:  # text only: the blocks are skipped
            return float(total)
        slots, frames = images.shape[1], images.shape[2]
        mask = batch.get("image_mask")
        # As Flamingo.encode_media: with a partial mask only the slots holding an image are encoded.
        media = int(mask.sum()) if mask is not None and mask.any() and not mask.all() else sequences * slots
        per_image, features = self.vision(tuple(images.shape[-3:]))
        latents = self.model.resampler.latents.shape[0]
        visual = sequences * slots * latents
        blocks = sum(
            2 * tokens * _dense(block.attention, block.feed_forward)
            + 2 * visual * block.attention.to_kv.weight.numel()
            + 4 * tokens * slots * latents * attention_width(block.attention)
            for block in self.model.blocks
        )
        vision = media * frames * per_image
        return float(total + vision + 3 * (self.resampler(media, frames, features) + blocks))
