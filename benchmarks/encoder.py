"""Training speed: our encoder trainer vs open_clip's own (``open_clip_train``), same model and settings.

Both train the same open_clip model with the same batch size, precision and number of
steps, one after the other on this machine. open_clip_train reads its built-in
synthetic dataset (random images, no decoding); ours reads real pair shards of JPEG
drawings (``pretrain_encoder.synthetic``) through the streaming loader, with
augmentation, so ours does strictly more data work. Speed is samples per second over
the steps after the first (the first carries start-up costs in both), from each
trainer's own per-step timings.

    python benchmarks/encoder.py [--model ViT-S-32] [--batch 64] [--steps 12] [--workers 1] [--precision fp32]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import mean

from flamboyance.pretrain_encoder.config import DatasetConfig, EncoderConfig
from flamboyance.pretrain_encoder.run_log import read_metrics
from flamboyance.pretrain_encoder.train import train
from flamboyance.shards.config import load
from flamboyance.shards.synthetic import write_shape_pairs

_BATCH_TIME = re.compile(r"Batch \(t\): ([0-9.]+)")


def ours(folder: Path, args: argparse.Namespace) -> float:
    size = 224 if args.image_size is None else args.image_size
    shards = write_shape_pairs(str(folder / "pairs"), args.batch * (args.steps + 1), seed=0, size=size, per_shard=args.batch * 4)
    config = load(
        EncoderConfig,
        None,
        [
            f"output={folder / 'ours'}",
            f"steps={args.steps}",
            f"precision={args.precision.removeprefix('amp_')}",  # open_clip_train's amp_bf16 is our (autocast) bf16
            f"model.name={args.model}",
            f"data.batch_size={args.batch}",
            f"data.num_workers={args.workers}",
            "log.every=1",
            "log.tensorboard=false",
            "checkpoint.every=0",
        ],
    )
    config.datasets = [DatasetConfig("shapes", shards)]
    train(config)
    per_step = [args.batch / entry["samples_per_s"] for step, entry in sorted(read_metrics(str(folder / "ours")).items()) if step > 1]
    return args.batch / mean(per_step)


def open_clip_train(folder: Path, args: argparse.Namespace) -> float:
    command = [
        sys.executable, "-m", "open_clip_train.main",
        "--dataset-type", "synthetic",
        "--train-num-samples", str(args.batch * args.steps),
        "--batch-size", str(args.batch),
        "--model", args.model,
        "--precision", args.precision,
        "--epochs", "1",
        "--workers", str(args.workers),
        "--log-every-n-steps", "1",
        "--save-frequency", "0",
        "--logs", str(folder / "open_clip_train"),
        "--name", "benchmark",
        "--report-to", "",
        "--warmup", "2",
    ]  # fmt: skip
    if args.image_size is not None:
        command += ["--force-image-size", str(args.image_size)]
    finished = subprocess.run(command, check=False, capture_output=True, text=True)
    output = finished.stdout + finished.stderr
    if finished.returncode != 0:
        raise RuntimeError(f"open_clip_train failed:\n{output[-3000:]}")
    # Each log line averages the batches since the previous one: with one step per line, one batch.
    times = [float(value) for value in _BATCH_TIME.findall(output)]
    if len(times) < 2:
        raise RuntimeError(f"no per-step timings in open_clip_train's output:\n{output[-3000:]}")
    return args.batch / mean(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-S-32")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--image-size", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        theirs = open_clip_train(folder, args)
        mine = ours(folder, args)
    print(f"model {args.model}, batch {args.batch}, {args.precision}, {args.steps} steps, {args.workers} loader worker(s)")
    print(f"open_clip_train (synthetic data): {theirs:8.1f} samples/s")
    print(f"flamboyance pretrain-encoder    : {mine:8.1f} samples/s")
    print(f"ratio ours / open_clip_train    : {mine / theirs:8.2f}x")


if __name__ == "__main__":
    main()
