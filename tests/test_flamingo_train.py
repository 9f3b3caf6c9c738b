"""Training: weighted accumulation across datasets, the NaN guard, DDP equivalence, kill and resume."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from shapes import ANSWERS, write_shape_shards

from flamboyance.flamingo_model.checkpoint import load_trained
from flamboyance.flamingo_model.config import DatasetConfig, TrainConfig
from flamboyance.flamingo_model.data import dataset_loader
from flamboyance.flamingo_model.model import build_flamingo
from flamboyance.flamingo_model.tiny import tiny_flamingo_config, tiny_lm, tiny_tokenizer, tiny_vit
from flamboyance.flamingo_model.train import TrainDataset, token_loss, train
from flamboyance.pretrain_encoder.run_log import LogConfig
from flamboyance.shards.loader.transforms import ImageTransform, ImageTransformConfig

SMALL = tiny_flamingo_config(num_latents=4, dim_head=16)
TRANSFORM = ImageTransform(ImageTransformConfig(size=32))
PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer([f"Output: {answer}" for answer in ANSWERS] * 4)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    write_shape_shards(str(folder / "docs"), documents=24, images_per_document=2, seed=1, per_shard=8)
    write_shape_shards(str(folder / "pairs"), documents=24, images_per_document=1, seed=2, per_shard=8, pairs=True)
    return folder


def model_for(tokenizer, seed=0):
    torch.manual_seed(seed)
    return build_flamingo(tiny_lm("gpt2", len(tokenizer)), tiny_vit(), tokenizer, SMALL)


def loaders(shapes, tokenizer, **where):
    shapes = Path(shapes)
    docs = DatasetConfig("docs", [str(shapes / "docs" / "*.tar")], batch_size=4, max_tokens=32, max_images=2, num_workers=0)
    pairs = DatasetConfig(
        "pairs",
        [str(shapes / "pairs" / "*.tar")],
        kind="pairs",
        weight=0.2,
        batch_size=4,
        max_tokens=16,
        max_images=1,
        num_workers=0,
    )
    return [TrainDataset(d.name, d.weight, dataset_loader(d, tokenizer, TRANSFORM, seed=0, **where)) for d in (docs, pairs)]


def test_one_step_adds_the_weighted_gradients_of_every_dataset(shapes, tokenizer, tmp_path):
    model = model_for(tokenizer)
    twin = copy.deepcopy(model)
    config = TrainConfig(steps=1, lr=1e-3, warmup_steps=1, output=str(tmp_path / "run"), log=LogConfig(every=1))
    history = train(model, loaders(shapes, tokenizer), config)

    # The same step by hand: one optimiser step on 1.0 x docs loss + 0.2 x pairs loss.
    twin.train()
    optimizer = torch.optim.AdamW(twin.parameter_groups(config.weight_decay), lr=config.lr)
    total = 0
    for dataset in loaders(shapes, tokenizer):
        loss, count = token_loss(twin, next(iter(dataset.loader)))
        total = total + dataset.weight * loss / count
    total.backward()
    torch.nn.utils.clip_grad_norm_([p for p in twin.parameters() if p.requires_grad], config.grad_clip)
    optimizer.step()

    assert set(history[0]["losses"]) == {"docs", "pairs"} and history[0]["tokens_per_s"] > 0
    for name, value in model.trainable_state_dict().items():
        torch.testing.assert_close(value, twin.trainable_state_dict()[name], rtol=1e-5, atol=1e-6, msg=name)


def test_a_step_with_a_non_finite_loss_is_skipped_and_training_goes_on(shapes, tokenizer, tmp_path):
    model = model_for(tokenizer)
    batches = [next(iter(loaders(shapes, tokenizer)[0].loader)) for _ in range(2)]
    batches[0] = {**batches[0], "images": torch.full_like(batches[0]["images"], float("nan"))}
    before = model.trainable_state_dict()
    history = train(model, [TrainDataset("docs", 1.0, batches)], TrainConfig(steps=2, output=str(tmp_path / "run")))
    assert [record["skipped"] for record in history] == [True, False]
    after = model.trainable_state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.isfinite(v).all() for v in after.values())


DDP_SCRIPT = """
import sys, torch, torch.distributed as dist
from flamboyance.flamingo_model.checkpoint import load_trained
from flamboyance.flamingo_model.config import TrainConfig
from flamboyance.flamingo_model.train import TrainDataset, train
sys.path.insert(0, {tests!r})
from test_flamingo_train import loaders, model_for, tokenizer_for_scripts

output, world = sys.argv[1], 1
if "RANK" in __import__("os").environ:
    dist.init_process_group("gloo")
    world = dist.get_world_size()
rank = dist.get_rank() if world > 1 else 0
tokenizer = tokenizer_for_scripts()
# The same 3 global batches of 4 per dataset; with 2 ranks each takes its half of every batch.
def split(loader):
    batches = [b for b, _ in zip(loader, range(3))]
    share = 4 // world
    return [{{k: v[rank * share:(rank + 1) * share] for k, v in b.items()}} for b in batches]
datasets = [TrainDataset(d.name, d.weight, split(d.loader)) for d in loaders({shapes!r}, tokenizer, rank=0, world_size=1)]
model = model_for(tokenizer)
history = train(model, datasets, TrainConfig(steps=3, lr=1e-3, warmup_steps=1, output=output, parallel={parallel!r}))
if rank == 0:
    torch.save([r["losses"] for r in history], output + ".losses.pt")
if world > 1:
    dist.destroy_process_group()
"""


def tokenizer_for_scripts():
    return tiny_tokenizer([f"Output: {answer}" for answer in ANSWERS] * 4)


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_gloo_ranks_match_one_process_with_the_doubled_batch(shapes, tmp_path, parallel):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(PROJECT / "tests"), shapes=str(shapes), parallel=parallel))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(script), str(tmp_path / "single")], check=True, env=env, timeout=300)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(script),
            str(tmp_path / "ddp"),
        ],
        check=True,
        env=env,
        timeout=300,
    )
    for one, two in zip(torch.load(tmp_path / "single.losses.pt"), torch.load(tmp_path / "ddp.losses.pt"), strict=True):
        assert one == pytest.approx(two, rel=1e-5)
    # The checkpoints (full tensors, whatever the sharding) hold the same trained weights.
    single, ddp = load_trained(str(tmp_path / "single")), load_trained(str(tmp_path / "ddp"))
    assert single.keys() == ddp.keys()
    for name, value in single.items():
        torch.testing.assert_close(ddp[name], value, rtol=1e-4, atol=1e-6, msg=name)


@pytest.fixture(scope="module")
def run_config(shapes, tmp_path_factory):
    """configs/flamingo-tiny.yaml pointed at a tiny LM folder, a tiny open_clip checkpoint and the shape shards."""
    from flamboyance.flamingo_model.tiny import write_tiny_parts

    folder = tmp_path_factory.mktemp("parts")
    lm, encoder = write_tiny_parts(str(folder), [f"Output: {answer}" for answer in ANSWERS] * 4)
    config = yaml.safe_load((PROJECT / "configs" / "flamingo-tiny.yaml").read_text())
    config.update(lm=lm, encoder=encoder, steps=8, checkpoint={"every": 2}, log={"every": 1})
    config["datasets"][0]["urls"] = [str(shapes / "docs" / "*.tar")]
    config["datasets"][1]["urls"] = [str(shapes / "pairs" / "*.tar")]
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_training(config: Path, output: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "flamboyance.flamingo_model.train_command", "--config", str(config), "--set", f"output={output}"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def losses_by_step(process: subprocess.Popen, output: Path, skip: int = 0) -> dict[int, dict[str, float]]:
    """The losses the run logged to OUTPUT/metrics.jsonl, after its first ``skip`` lines (an earlier run's)."""
    process.communicate(timeout=300)
    assert process.returncode == 0
    lines = (output / "metrics.jsonl").read_text().splitlines()[skip:]
    return {entry.pop("step"): {k: v for k, v in entry.items() if k.startswith("loss/")} for entry in map(json.loads, lines)}


def test_a_killed_run_resumes_from_its_checkpoint_and_continues_the_same_loss_curve(run_config, tmp_path):
    reference = losses_by_step(start_training(run_config, tmp_path / "reference"), tmp_path / "reference")
    assert sorted(reference) == list(range(1, 9))

    victim = start_training(run_config, tmp_path / "victim")
    marker = tmp_path / "victim" / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 240
    while not (marker.exists() and json.loads(marker.read_text())["step"] >= 4):
        assert victim.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    logged = len((tmp_path / "victim" / "metrics.jsonl").read_text().splitlines())
    resumed = losses_by_step(start_training(run_config, tmp_path / "victim"), tmp_path / "victim", skip=logged)
    assert min(resumed) > 4 and max(resumed) == 8  # continued, not restarted
    assert {step: reference[step] for step in resumed} == resumed


def test_a_video_dataset_trains_in_the_mixture_with_its_weight(shapes, tokenizer, tmp_path):
    """Video-text shards (T frames per sample) join the accumulated step like any dataset."""
    import io
    import random

    from flamboyance.shards.manifest import write_manifest
    from flamboyance.shards.synthetic import Drawing, draw
    from flamboyance.shards.video import video_sample
    from flamboyance.shards.writer import ShardWriter

    rng = random.Random(0)
    with ShardWriter(str(tmp_path / "video"), "video", max_samples=4) as writer:
        for n in range(8):
            frames = []
            for _ in range(4):
                buffer = io.BytesIO()
                draw(Drawing("circle", "red", "striped"), (48, 48), rng).save(buffer, format="JPEG")
                frames.append(buffer.getvalue())
            writer.write(video_sample(f"clip{n}", frames, "Output: red circle", {"video": f"clip{n}.mp4"}))
    write_manifest(str(tmp_path / "video"), [shard.to_json() for shard in writer.shards])
    video = DatasetConfig("video", [str(tmp_path / "video" / "*.tar")], kind="video", weight=0.03,
                          batch_size=2, max_tokens=16, max_images=1, num_workers=0, frames=4)
    loader = dataset_loader(video, tokenizer, TRANSFORM, seed=0)
    batch = next(iter(loader))
    assert batch["images"].shape[:3] == (2, 1, 4)  # [B, one media item, T frames, ...]

    model = model_for(tokenizer)
    config = TrainConfig(steps=1, lr=1e-3, warmup_steps=1, output=str(tmp_path / "run"), log=LogConfig(every=1))
    history = train(model, [*loaders(shapes, tokenizer), TrainDataset("video", 0.03, loader)], config)
    assert set(history[0]["losses"]) == {"docs", "pairs", "video"}
    assert all(torch.isfinite(torch.tensor(loss)) for loss in history[0]["losses"].values())
