"""benchmarks/gpu.sh: without a GPU it says so and exits 0; the Python it runs works end to end at toy sizes on a CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


def test_gpu_sh_without_a_gpu_says_so_and_exits_0():
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    finished = subprocess.run(["bash", "benchmarks/gpu.sh"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "benchmarks/gpu.sh: no CUDA GPU on this machine; nothing measured."


@pytest.mark.slow
def test_the_training_and_loader_parts_run_at_toy_sizes_on_a_cpu(article_benchmark, wiki_site):
    command = [sys.executable, "benchmarks/gpu_train.py", "--tiny", "--device", "cpu", "--steps", "1", "--workers", "1", "--examples", "16"]
    finished = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    lines = {line.split(":")[0]: line for line in finished.stdout.splitlines() if ":" in line}
    assert "tokens/s" in lines["training"] and "examples/s" in lines["training"]
    assert "MFU" in lines  # on a CPU: says no peak is known
    assert "real shards" in lines["loader"]
    assert float(lines["loader / training consumption"].split(":")[1].split("x")[0]) > 0
