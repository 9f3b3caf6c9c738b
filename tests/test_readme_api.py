"""The README's Python API example runs as written, in a fresh folder, through ``import flamboyance``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_api_example() -> str:
    section = README.read_text().split("### Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_readme_python_api_example_runs(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(readme_api_example())
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    written = int(re.search(r"^(\d+) documents written$", done.stdout, re.M).group(1))
    assert written > 0
    assert done.stdout.count(" images\n") == written  # one line per document read back
    assert (tmp_path / "out-dedup" / "interleaved" / "manifest.json").exists()
    assert (tmp_path / "out" / "report.html").exists()
