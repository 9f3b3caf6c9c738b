"""The README as a new user meets it: the demo's promise, then every ``bash`` block run as written.

One demo runs in a fresh folder (with ``configs/`` beside it, as in the repository); the
README's commands then run there in order, each expected to exit 0. ``text`` blocks are
templates for the user's own data and are not run; the install and test commands are
what CI itself runs. A second demo with another seed checks that its few-shot verdict
does not hold by luck.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
VERDICT = re.compile(r"^few-shot: accuracy (\d+\.\d+) on (\d+) held-out queries \(chance (\d+\.\d+)\)$")
NOT_RUN_HERE = ("pip install", "python -m pytest")  # the two commands CI runs itself


def flamboyance(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flamboyance.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=1200)


def blocks(language: str) -> list[tuple[str, str]]:
    """(section heading, block text) of every fenced block of ``language``, in README order."""
    found, heading = [], ""
    for part in re.split(r"^(#+ .*)$", README.read_text(), flags=re.M):
        if part.startswith("#"):
            heading = part
            continue
        found += [(heading, block) for block in re.findall(rf"^```{language}\n(.*?)^```", part, re.S | re.M)]
    return found


def commands() -> list[str]:
    lines = [line.strip() for _, block in blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#") and not any(skip in line for skip in NOT_RUN_HERE)]


def check_verdict(output: str) -> tuple[float, int, float]:
    """The demo's last line, parsed; it must show learning: N >= 64 and A >= 2C."""
    last = output.strip().splitlines()[-1]
    match = VERDICT.match(last)
    assert match, f"the demo did not end with the few-shot line: {last!r}"
    accuracy, queries, chance = float(match[1]), int(match[2]), float(match[3])
    assert queries >= 64 and accuracy >= 2 * chance, last
    return accuracy, queries, chance


@pytest.fixture(scope="module")
def after_demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "configs", folder / "configs")
    started = time.monotonic()
    demo = flamboyance("demo", "--no-progress", cwd=folder)
    assert demo.returncode == 0, demo.stderr[-3000:]
    return folder, demo.stdout, time.monotonic() - started


@pytest.mark.slow
def test_the_demo_ends_with_a_few_shot_verdict_that_shows_learning(after_demo):
    folder, output, seconds = after_demo
    accuracy, queries, chance = check_verdict(output)
    control = re.search(r"^control, every image blanked: accuracy (\d+\.\d+) on (\d+) held-out queries", output, re.M)
    assert control and float(control[1]) < accuracy
    assert "44 documents written" in output  # 40 articles and 4 mirrors of them
    assert "<image 0:" in output and "documents dropped: text 4" in output
    for saved in ("lm/config.json", "lm/tokenizer.json", "flamingo.yaml", "flamingo/checkpoints/latest.json",
                  "encoder/export/image_tower", "encoder/export/open_clip", "heldout/queries/manifest.json"):
        assert (folder / "flamboyance-demo" / saved).exists(), saved
    print(f"demo: {seconds:.0f}s, accuracy {accuracy} on {queries} (chance {chance})")


@pytest.mark.slow
def test_every_readme_command_runs_as_written_after_the_demo(after_demo):
    folder, _, _ = after_demo
    ran = []
    for command in commands():
        if "flamboyance serve" in command:
            serve_until_healthy(command, folder)
        else:
            done = subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=1200,
                                  env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
            assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        ran.append(command)
    assert any(c.startswith("flamboyance build") for c in ran) and any(c.startswith("flamboyance eval") for c in ran)
    for heading, block in blocks("python"):
        if "Python API" in heading:
            continue  # tests/test_readme_api.py runs that one in a folder of its own
        done = subprocess.run([sys.executable, "-c", block], cwd=folder, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{block}\n{done.stderr[-3000:]}"


def serve_until_healthy(command: str, folder: Path) -> None:
    """Start a ``flamboyance serve`` command, wait until it answers /health, then stop it."""
    port = re.search(r"--port[ =](\d+)", command)
    url = f"http://127.0.0.1:{port[1] if port else 8000}/health"
    server = subprocess.Popen(["bash", "-c", command], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                              env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"{command} exited: {server.stdout.read()[-3000:]}"
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    assert answer.status == 200
                    return
            except OSError:
                assert time.monotonic() < deadline, f"{command} did not answer {url}"
                time.sleep(0.5)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the shell and the server it started
        server.wait(timeout=60)


@pytest.mark.slow
def test_the_demo_run_again_resumes_and_gives_the_same_verdict(after_demo):
    folder, first, _ = after_demo
    again = flamboyance("demo", "--no-progress", cwd=folder)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already done" in again.stdout and "training had finished in an earlier run" in again.stdout
    assert check_verdict(again.stdout) == check_verdict(first)
    inspected = flamboyance("inspect", "flamboyance-demo/dedup", "--limit", "2", cwd=folder)
    assert inspected.returncode == 0
    assert inspected.stdout.count("=== ") == 2 and "https://demo.flamboyance.invalid/img/" in inspected.stdout


@pytest.mark.slow
def test_the_verdict_holds_on_another_seed(tmp_path):
    demo = flamboyance("demo", "--no-progress", "--seed", "1", "--workdir", str(tmp_path / "seed1"), cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr[-3000:]
    check_verdict(demo.stdout)
