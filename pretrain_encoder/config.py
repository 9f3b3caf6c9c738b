"""Settings of a contrastive pretraining run, as dataclasses (loaded by ``shards.config.load``).

Every field has a default, so a YAML file names only what differs; ``configs/encoder-*.yaml``
show all of them. Batch sizes are per rank and per dataset: with the accumulation strategy
a step reads one batch of ``data.batch_size`` pairs from every dataset on every rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flamboyance.pretrain_encoder.checkpoint import CheckpointConfig
from flamboyance.pretrain_encoder.run_log import LogConfig
from flamboyance.shards.config import ConfigError, from_dict

STRATEGIES = ("accumulation", "merged", "round_robin")
SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class DatasetConfig:
    """One pair dataset: its shards (paths, globs or URLs) and the weight of its loss."""

    name: str
    shards: list[str] | str  # one path or glob, or a list of them
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ConfigError(f"dataset {self.name}: weight must be >= 0, not {self.weight}")
        if isinstance(self.shards, str):
            self.shards = [self.shards]


@dataclass
class ModelConfig:
    """An open_clip model config name (ours in ``model_configs/`` first, then open_clip's)."""

    name: str = "tiny-vit"
    # Overrides of the config's image size and text context length (None keeps them).
    image_size: int | None = None
    context_length: int | None = None
    # Vocabulary size of the tokenizer trained on the captions when the text tower is a
    # from-scratch Hugging Face model (at most the tower's own vocab_size).
    tokenizer_vocab: int = 4096


@dataclass
class AugmentConfig:
    """Training-time image augmentation, drawn from the loader's per-sample seeded generator.

    Hue jitter is off by default on purpose: when captions name colours ("a red circle"),
    shifting the hue makes the caption wrong and teaches the model to ignore colour.
    """

    enabled: bool = True
    crop_scale: tuple[float, float] = (0.6, 1.0)
    crop_ratio: tuple[float, float] = (0.75, 1.3333)
    flip: bool = True
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.0


@dataclass
class DataConfig:
    batch_size: int = 64
    num_workers: int = 2
    shuffle_buffer: int = 1000
    # DataLoader worker start method; "fork" starts fastest in spawned (DDP) processes.
    multiprocessing_context: str | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class OptimConfig:
    lr: float = 5e-4
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    warmup_steps: int = 100
    schedule: str = "cosine"
    # The learning rate decays to lr * min_lr_ratio at the last step.
    min_lr_ratio: float = 0.0
    # Global gradient norm clip; 0 disables it.
    grad_clip: float = 1.0


@dataclass
class LossConfig:
    """open_clip ClipLoss options for multi-rank runs (ignored on one rank)."""

    gather_with_grad: bool = True
    local_loss: bool = False


@dataclass
class EvalConfig:
    # Evaluate every N steps (0: only after the last step).
    every: int = 0
    # Labelled images in ImageFolder layout (root/CLASS/*.jpg) for zero-shot classification.
    zero_shot_folder: str | None = None
    # Held-out pair shards for image<->text retrieval; the first ``retrieval_samples`` are used.
    retrieval_shards: list[str] = field(default_factory=list)
    retrieval_samples: int = 1000
    batch_size: int = 128


@dataclass
class EncoderConfig:
    """A whole pretraining run: ``flamboyance pretrain-encoder --config FILE --set key=value``."""

    output: str = "encoder-run"
    datasets: list[DatasetConfig] = field(default_factory=list)
    steps: int = 1000
    # How datasets share a step: "accumulation" (Flamingo: one batch of each, weighted
    # gradients summed, one step), "merged" (one batch mixed in proportion to the weights)
    # or "round_robin" (one dataset per step, in turn).
    strategy: str = "accumulation"
    seed: int = 0
    # "auto": bf16 autocast on GPU, fp32 on CPU.
    precision: str = "auto"
    # "auto": cuda when available (the rank's local GPU), else cpu.
    device: str = "auto"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        self.datasets = [d if isinstance(d, DatasetConfig) else from_dict(DatasetConfig, d, "datasets.") for d in self.datasets]
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {STRATEGIES}, not {self.strategy!r}")
        if self.optim.schedule not in SCHEDULES:
            raise ConfigError(f"optim.schedule must be one of {SCHEDULES}, not {self.optim.schedule!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")

    def active_datasets(self) -> list[DatasetConfig]:
        """The datasets that take part in training: a weight of 0 switches a dataset off."""
        active = [dataset for dataset in self.datasets if dataset.weight > 0]
        if not active:
            raise ConfigError("no dataset with a weight above 0: set datasets[].shards and weight")
        return active
