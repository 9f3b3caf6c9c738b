"""open_clip's own trainer (``python -m open_clip_train.main``, shipped in the open_clip_torch wheel) on our pair shards.

It reads the build's ``pairs/`` shards with its webdataset pipeline, takes the sample
count from our ``sizes.json`` (no ``--train-num-samples``), and trains a random-weight
open_clip model exported as pretrain_encoder exports one (``--model local-dir:``), so
nothing is downloaded.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from interop_fixtures import tiny_open_clip, wiki_build  # noqa: F401

from flamboyance.shards.manifest import shard_paths


@pytest.mark.slow
def test_open_clip_train_trains_two_steps_on_our_pairs(wiki_build: Path, tmp_path: Path) -> None:  # noqa: F811
    pairs = shard_paths(str(wiki_build / "pairs"))
    samples = sum(json.loads((wiki_build / "pairs/sizes.json").read_text()).values())
    assert len(pairs) == 1 and samples == 30
    command = [
        sys.executable, "-m", "open_clip_train.main",
        "--dataset-type", "webdataset",
        "--train-data", pairs[0],
        "--model", f"local-dir:{tiny_open_clip(tmp_path / 'clip')}",
        "--batch-size", str(samples // 2),
        "--epochs", "1",
        "--workers", "1",
        "--warmup", "1",
        "--log-every-n-steps", "1",
        "--save-frequency", "0",
        "--report-to", "",
        "--logs", str(tmp_path / "logs"),
        "--name", "pairs",
    ]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output[-3000:]
    steps = re.findall(r"Train Epoch: 0 \[\s*(\d+)/(\d+) .*Contrastive_loss: ([\d.]+)", output)
    assert [(int(seen), int(total)) for seen, total, _ in steps] == [(15, 30), (30, 30)], output[-3000:]
    assert all(0 < float(loss) < 10 for _, _, loss in steps)
