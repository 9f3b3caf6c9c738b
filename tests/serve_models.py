"""The demo's models in the layout ``flamboyance demo`` leaves, made quickly for the serve tests.

WORKDIR holds ``encoder/export/open_clip`` and ``encoder/export/image_tower`` (a short
``flamboyance pretrain-encoder`` run on drawn shape pairs), ``flamingo.yaml`` (a
TrainConfig: a tiny LM, that image tower, and the output of a short ``flamboyance
train`` run with its checkpoint) and ``index`` (``flamboyance index`` of the pairs).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from shapes import ANSWERS, write_shape_shards

from flamboyance.flamingo_model import train_command
from flamboyance.flamingo_model.tiny import write_tiny_parts
from flamboyance.pretrain_encoder import command as encoder_command
from flamboyance.serve import index_command
from flamboyance.shards.synthetic import write_shape_pairs

PROJECT = Path(__file__).resolve().parent.parent


def run_command(module, argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    assert module.run(parser.parse_args(argv)) == 0


def write_demo_models(workdir: Path, encoder_steps: int = 6, flamingo_steps: int = 4) -> Path:
    """Train, export and index the demo's models into ``workdir``; returns it."""
    write_shape_pairs(str(workdir / "data" / "encoder-pairs"), 128, seed=0)
    write_shape_shards(str(workdir / "data" / "docs"), documents=16, images_per_document=2, seed=1, per_shard=8)
    write_shape_shards(str(workdir / "data" / "pairs"), documents=40, images_per_document=1, seed=2, per_shard=20, pairs=True)

    encoder_yaml = workdir / "encoder.yaml"
    encoder_yaml.write_text(
        yaml.safe_dump(
            {
                "output": str(workdir / "encoder"),
                "datasets": [{"name": "shapes", "shards": [str(workdir / "data" / "encoder-pairs" / "*.tar")]}],
                "steps": encoder_steps,
                "model": {"name": "tiny-vit"},
                "data": {"batch_size": 16, "num_workers": 0},
                "checkpoint": {"every": encoder_steps},
                "log": {"every": encoder_steps, "tensorboard": False},
            }
        )
    )
    run_command(encoder_command, ["--config", str(encoder_yaml)])

    lm, _ = write_tiny_parts(str(workdir / "parts"), [f"Output: {answer} Question: what is it? Answer:" for answer in ANSWERS] * 4)
    config = yaml.safe_load((PROJECT / "configs" / "flamingo-tiny.yaml").read_text())
    config.update(
        lm=lm,
        encoder=str(workdir / "encoder" / "export" / "image_tower"),
        output=str(workdir / "flamingo"),
        steps=flamingo_steps,
        checkpoint={"every": flamingo_steps},
        log={"every": flamingo_steps, "tensorboard": False},
    )
    config["datasets"][0]["urls"] = [str(workdir / "data" / "docs" / "*.tar")]
    config["datasets"][1]["urls"] = [str(workdir / "data" / "pairs" / "*.tar")]
    (workdir / "flamingo.yaml").write_text(yaml.safe_dump(config))
    run_command(train_command, ["--config", str(workdir / "flamingo.yaml")])

    encoder = str(workdir / "encoder" / "export" / "open_clip")
    run_command(index_command, [str(workdir / "data" / "pairs"), "--output", str(workdir / "index"), "--encoder", encoder])
    return workdir
