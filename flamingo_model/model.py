"""The Flamingo model: a frozen causal LM that reads images through gated cross-attention.

Inputs are plain tensors, the batch contract of ``flamingo_model/examples.py``: ``input_ids``,
``attention_mask``, ``labels`` [B, L]; ``media_index`` [B, L] (the image slot each token
sees, -1 for none: this is where phi and the attend-to-next choice are encoded);
``images`` [B, N, T, C, H, W] and ``image_mask`` [B, N]. Trainable: the Perceiver
Resampler, the GATED XATTN-DENSE blocks and the ``<image>``/``<EOC>`` embedding rows;
everything else is frozen.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from flamboyance.flamingo_model.config import FlamingoConfig
from flamboyance.flamingo_model.cross_attention import GatedCrossAttentionBlock
from flamboyance.flamingo_model.lm_adapter import decoder_layers, hidden_size, insert_cross_attention, train_embedding_rows
from flamboyance.flamingo_model.perceiver import PerceiverResampler
from flamboyance.flamingo_model.vision import VisionFeatures


def media_index_of(input_ids: torch.Tensor, image_id: int, attend_next: bool = False) -> torch.Tensor:
    """Per token, the slot of the image it sees (phi), for prompts built at inference time.

    The last ``<image>`` at or before each token (-1 before the first); with
    ``attend_next``, the first one at or after it (-1 after the last).
    """
    is_image = (input_ids == image_id).long()
    seen = is_image.cumsum(-1) - 1
    if not attend_next:
        return seen
    following = seen + 1 - is_image
    return torch.where(following < is_image.sum(-1, keepdim=True), following, torch.full_like(following, -1))


class Flamingo(nn.Module):
    """Frozen LM + frozen vision encoder + trainable resampler and cross-attention blocks."""

    def __init__(
        self, lm: nn.Module, vision: nn.Module, image_id: int, eoc_id: int, config: FlamingoConfig | None = None
    ) -> None:
        super().__init__()
        self.config = config or FlamingoConfig()
        self.image_id, self.eoc_id = image_id, eoc_id
        if lm.get_input_embeddings().weight.shape[0] <= max(image_id, eoc_id):
            raise ValueError(
                "the LM's embeddings do not cover <image>/<EOC>: resize them to len(tokenizer) first (see build_flamingo)"
            )
        self.vision = vision if isinstance(vision, VisionFeatures) else VisionFeatures(vision)
        lm.requires_grad_(False)
        c, dim = self.config, hidden_size(lm)
        self.resampler = PerceiverResampler(
            self.vision.dim, c.perceiver_depth, c.num_latents, c.perceiver_heads, c.perceiver_dim_head, c.max_frames, c.ff_mult
        )
        self.context = insert_cross_attention(
            lm,
            c.cross_attn_every,
            lambda: GatedCrossAttentionBlock(dim, self.vision.dim, c.cross_attn_heads, c.cross_attn_dim_head, c.ff_mult),
        )
        self.lm = lm
        train_embedding_rows(lm, [image_id, eoc_id])
        # The blocks and token rows live inside the LM only (each parameter has one name,
        # which sharded state dicts need); `blocks` finds the blocks there.

    @property
    def blocks(self) -> list[GatedCrossAttentionBlock]:
        return [layer.block for layer in decoder_layers(self.lm) if layer.block is not None]

    def train(self, mode: bool = True) -> "Flamingo":
        """Train the new modules; the frozen LM keeps its eval behaviour (no dropout) throughout."""
        super().train(mode)
        self.lm.eval()
        return self

    def encode_media(self, images: torch.Tensor, image_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Images [B, N, T, C, H, W] -> visual tokens [B, N, R, D]; empty slots (mask False) are zeros."""
        if image_mask is None or image_mask.all() or not image_mask.any():
            media = self.resampler(self.vision(images))
            return media if image_mask is None else media * image_mask[:, :, None, None].to(media.dtype)
        # Encode only the slots that hold an image: interleaved batches are mostly padding.
        picked = self.resampler(self.vision(images[image_mask].unsqueeze(0)))[0]
        media = picked.new_zeros(*image_mask.shape, *picked.shape[1:])
        media[image_mask] = picked
        return media

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        media_index: torch.Tensor | None = None,
        images: torch.Tensor | None = None,
        image_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        media: torch.Tensor | None = None,
        **lm_kwargs: Any,
    ) -> Any:
        """The LM's output (``logits``, ``loss`` with ``labels``, ``past_key_values``).

        Pass ``images`` to encode them, or ``media`` (from ``encode_media``) to reuse
        visual tokens across calls, as generation does with its KV cache.
        """
        if media is None and images is not None:
            media = self.encode_media(images, image_mask)
        if media is not None and media_index is None:
            media_index = media_index_of(input_ids, self.image_id)
        self.context.media, self.context.media_index = media, media_index
        self.context.checkpointing = self.config.gradient_checkpointing
        try:
            return self.lm(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **lm_kwargs)
        finally:
            self.context.media = self.context.media_index = None

    def parameter_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Optimiser groups: weight decay on the new matrices only (not on norms, gates, latents or token rows)."""
        decay, no_decay = [], []
        for name, parameter in self.named_parameters():
            if parameter.requires_grad:
                matrix = parameter.dim() >= 2 and not name.endswith((".rows", ".latents"))
                (decay if matrix else no_decay).append(parameter)
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """What training changes, by parameter name: the resampler, the blocks, the two token rows."""
        return {name: parameter.detach().clone() for name, parameter in self.named_parameters() if parameter.requires_grad}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load trained weights (a checkpoint's ``model``); every trainable parameter must be there."""
        result = self.load_state_dict(state, strict=False)
        missing = set(result.missing_keys) & {name for name, p in self.named_parameters() if p.requires_grad}
        if missing or result.unexpected_keys:
            raise ValueError(
                f"trained weights do not fit this model: missing {sorted(missing)}, unexpected {result.unexpected_keys}"
            )


def build_flamingo(lm: nn.Module, encoder: nn.Module, tokenizer: Any, config: FlamingoConfig | None = None) -> Flamingo:
    """Add ``<image>``/``<EOC>`` to the tokenizer, grow the LM's embeddings to match, and assemble the model."""
    from flamboyance.flamingo_model.tokens import END_OF_CHUNK_TOKEN, IMAGE_TOKEN, add_flamingo_tokens

    add_flamingo_tokens(tokenizer)
    if lm.get_input_embeddings().weight.shape[0] < len(tokenizer):
        lm.resize_token_embeddings(len(tokenizer))
    ids = tokenizer.convert_tokens_to_ids([IMAGE_TOKEN, END_OF_CHUNK_TOKEN])
    return Flamingo(lm, encoder, ids[0], ids[1], config)
