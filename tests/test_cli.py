"""The command line as a user meets it: help, the demo, inspect, and clear errors."""

from __future__ import annotations

import subprocess
import sys

from flamboyance.cli import main


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flamboyance.cli", *args], capture_output=True, text=True, timeout=900, cwd=cwd)


def test_help_lists_the_jobs():
    done = run("--help")
    assert done.returncode == 0
    for command in ("build", "inspect", "demo"):
        assert command in done.stdout


def test_user_mistakes_are_reported_without_a_traceback(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nothing-here")]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["build", "--warc", str(tmp_path / "missing.warc.gz"), "--output", str(tmp_path / "out")]) == 2
    assert "input not found" in capsys.readouterr().err
    warc = tmp_path / "empty.warc.gz"
    warc.write_bytes(b"")
    assert main(["build", "--warc", str(warc), "--output", str(tmp_path / "o"), "--set", "images.sise=1"]) == 2
    assert "images.sise" in capsys.readouterr().err
