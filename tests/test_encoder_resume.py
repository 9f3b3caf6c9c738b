"""Kill a run after its mid-run checkpoint; a new process resumes and the loss curve continues exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flamboyance.pretrain_encoder.run_log import read_metrics
from flamboyance.shards.synthetic import write_shape_pairs

CLI = (
    "import argparse, sys; from pretrain_encoder import command; parser = argparse.ArgumentParser(); "
    "command.add_arguments(parser); sys.exit(command.run(parser.parse_args(sys.argv[1:])))"
)
STEPS = 8


def pretrain(output: Path, shards: str, *overrides: str) -> subprocess.Popen:
    """``flamboyance pretrain-encoder`` in a process of its own: augmentation on, one DataLoader worker."""
    settings = [
        f"output={output}",
        f"datasets=[{{name: shapes, shards: ['{shards}']}}]",
        f"steps={STEPS}",
        "data.batch_size=8",
        "data.num_workers=1",
        "data.shuffle_buffer=16",
        "optim.warmup_steps=2",
        "checkpoint.every=4",
        "checkpoint.keep=5",
        "log.every=1",
        "log.tensorboard=false",
        *overrides,
    ]
    arguments = [item for setting in settings for item in ("--set", setting)]
    return subprocess.Popen([sys.executable, "-c", CLI, *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow  # three fresh processes, each importing torch: 30-80 s on 2 busy cores
def test_killed_run_resumes_with_the_same_losses(tmp_path: Path) -> None:
    # 40 pairs in batches of 8: step 4 starts the second epoch, so the resume crosses an epoch.
    shards = write_shape_pairs(str(tmp_path / "pairs"), 40, seed=3)[0]
    straight = pretrain(tmp_path / "straight", shards)
    assert straight.wait(timeout=300) == 0, straight.stdout.read()

    killed = pretrain(tmp_path / "killed", shards)
    middle = tmp_path / "killed" / "checkpoints" / "step-00000004.pt"
    deadline = time.monotonic() + 300
    while not middle.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert middle.exists(), killed.stdout.read() if killed.poll() is not None else "no checkpoint in time"
    if killed.poll() is None:
        os.kill(killed.pid, signal.SIGKILL)
    killed.wait()

    resumed = pretrain(tmp_path / "killed", shards, f"checkpoint.resume={middle}")
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    assert "resumed from" in output and "at step 4" in output

    expected, got = read_metrics(str(tmp_path / "straight")), read_metrics(str(tmp_path / "killed"))
    for step in range(1, STEPS + 1):
        assert got[step]["loss"] == pytest.approx(expected[step]["loss"], rel=1e-5, abs=1e-6), step
        assert got[step]["lr"] == pytest.approx(expected[step]["lr"])
