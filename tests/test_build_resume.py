"""Killing a build driver mid-way and running the same command again loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import webdataset

from flamboyance.shards.manifest import shard_paths


def keys(output: Path) -> list[str]:
    samples = webdataset.WebDataset(shard_paths(str(output / "interleaved")), shardshuffle=False)
    return [sample["__key__"] for sample in samples]


def command(wiki_site: Path, output: Path) -> list[str]:
    # Small byte ranges make many units, so the kill lands between finished and unfinished ones.
    return [
        sys.executable, "-m", "flamboyance.cli", "build",
        "--warc", str(wiki_site / "pages.warc.gz"),
        "--image-warc", str(wiki_site / "images.warc.gz"),
        "--output", str(output),
        "--set", "unit_bytes=400000", "--set", "shards.max_samples=4", "--set", "filters=null",
        "--no-progress",
    ]


@pytest.mark.slow
def test_sigkill_then_rerun_gives_the_uninterrupted_result(wiki_site, tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(command(wiki_site, reference), check=True, timeout=600)
    expected = keys(reference)
    assert len(expected) == len(set(expected)) == 85

    output = tmp_path / "interrupted"
    driver = subprocess.Popen(command(wiki_site, output), start_new_session=True)
    markers = output / "units"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and driver.poll() is None:
        if markers.exists() and len(list(markers.glob("*.json"))) >= 2:
            break
        time.sleep(0.05)
    assert driver.poll() is None, "the build finished before it could be interrupted"
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and every Ray process it started
    driver.wait()
    finished = len(list(markers.glob("*.json")))
    assert 0 < finished

    rerun = subprocess.run(command(wiki_site, output), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "already done" in rerun.stdout
    resumed = keys(output)
    assert len(resumed) == len(set(resumed))
    assert sorted(resumed) == sorted(expected)
