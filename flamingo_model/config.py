"""Settings of the Flamingo model and of its training, as plain dataclasses.

Loaded with ``shards.config.load(TrainConfig, path, overrides)`` from
``configs/flamingo-*.yaml``; defaults are the Flamingo paper's where it gives one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flamboyance.pretrain_encoder.checkpoint import CheckpointConfig
from flamboyance.pretrain_encoder.run_log import LogConfig
from flamboyance.shards.config import from_dict


@dataclass
class FlamingoConfig:
    """Shape of the parts Flamingo adds to a frozen LM and a frozen vision encoder."""

    # A GATED XATTN-DENSE block before every ``cross_attn_every``-th LM layer (1 = all).
    cross_attn_every: int = 1
    cross_attn_heads: int = 8
    cross_attn_dim_head: int = 64
    ff_mult: int = 4
    # Perceiver Resampler: learned latents per image, depth, attention shape.
    num_latents: int = 64
    perceiver_depth: int = 6
    perceiver_heads: int = 8
    perceiver_dim_head: int = 64
    # Learned time embeddings for up to this many frames per media item (video).
    max_frames: int = 8
    # Recompute block activations in the backward pass to save memory.
    gradient_checkpointing: bool = False


@dataclass
class DatasetConfig:
    """One training dataset: shards, how its samples become examples, its loss weight."""

    name: str = "interleaved"
    # Shard paths or globs (local, s3://, https://).
    urls: list[str] = field(default_factory=list)
    # "interleaved" (KEY.json + KEY.i.jpg), "pairs" (KEY.jpg + KEY.txt) or "video"
    # (KEY.t.jpg frames + KEY.txt, one media item per sample: give it max_images 1).
    kind: str = "interleaved"
    weight: float = 1.0
    batch_size: int = 4
    max_tokens: int = 256
    max_images: int = 5
    # Share of documents whose text attends to the next image instead of the previous one.
    attend_next_probability: float = 0.5
    num_workers: int = 1
    # Frames per video sample (kind "video"); samples with another count are dropped.
    frames: int = 8
    # Batches land in page-locked memory (when a GPU is present) for fast, asynchronous
    # copies, and each worker keeps this many batches ready ahead of training.
    pin_memory: bool = True
    prefetch_factor: int = 4


def default_datasets() -> list[DatasetConfig]:
    """Flamingo's mixture: M3W 1.0, LTIP 0.2, ALIGN 0.2 (video, VTP 0.03, when given)."""
    return [
        DatasetConfig("interleaved", kind="interleaved", weight=1.0),
        DatasetConfig("ltip", kind="pairs", weight=0.2, max_tokens=64, max_images=1),
        DatasetConfig("align", kind="pairs", weight=0.2, max_tokens=32, max_images=1),
    ]


@dataclass
class TrainConfig:
    """A training run: model sources, data mixture, optimiser, checkpoints and logging."""

    # A local Hugging Face causal-LM folder (config + weights + tokenizer), loaded offline.
    lm: str = ""
    # The folder of an image tower exported by pretrain_encoder, or an open_clip model
    # name (or config JSON) plus a checkpoint: "ViT-B-32:/path/ckpt.pt".
    encoder: str = ""
    image_size: int = 224
    model: FlamingoConfig = field(default_factory=FlamingoConfig)
    datasets: list[DatasetConfig] = field(default_factory=default_datasets)
    steps: int = 1000
    lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    # "bf16" autocasts on GPU; on CPU training runs in float32 whatever is asked.
    precision: str = "bf16"
    # "ddp" or "fsdp" when started with torchrun; ignored in a single process.
    parallel: str = "ddp"
    # torch.compile each decoder layer, cross-attention block and the resampler (first steps
    # are slower while it compiles). Activation checkpointing is model.gradient_checkpointing.
    compile: bool = False
    seed: int = 0
    output: str = "flamingo-run"
    # Save every N steps (and after the last), keep the newest N; "latest" resumes, "none" starts afresh.
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every=200))
    # Console, metrics.jsonl and tensorboard every N steps (the encoder's run log).
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        if self.precision not in ("bf16", "fp32"):
            raise ValueError(f"precision must be 'bf16' or 'fp32', not {self.precision!r}")
        if self.parallel not in ("ddp", "fsdp"):
            raise ValueError(f"parallel must be 'ddp' or 'fsdp', not {self.parallel!r}")
        # YAML gives the dataset list as dicts: shards.config.from_dict does not recurse into lists.
        self.datasets = [d if isinstance(d, DatasetConfig) else from_dict(DatasetConfig, d, "datasets.") for d in self.datasets]
