"""Mistakes in what a user asks for: one line, exit status 2, before any work or Ray starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flamboyance.cli import main
from flamboyance.crawl.config import BuildConfig
from flamboyance.flamingo_model.config import TrainConfig
from flamboyance.shards.config import ConfigError, load
from flamboyance.shards.executor import PlanMismatch, check_plan


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["images.size=big"], "images.size must be a whole number"),
        (["images.size=-5"], "must not be negative"),
        (["filters=3"], "filters must be a string"),
        (["nosuch=1"], "unknown setting(s) nosuch"),
        (["fetch.max_bytes.page=-1"], "fetch.max_bytes must not be negative"),
    ],
)
def test_bad_build_settings_are_one_line_and_exit_2_before_ray_starts(tmp_path, capsys, overrides, named) -> None:
    warc = tmp_path / "pages.warc.gz"
    warc.write_bytes(b"")
    argv = ["build", "--warc", str(warc), "--output", str(tmp_path / "out")]
    for override in overrides:
        argv += ["--set", override]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before the plan (and Ray) started anything


def test_unreadable_and_broken_config_files_are_named(tmp_path, capsys) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("steps: [1, 2\nlr: 3\n")
    assert main(["train", "--config", str(broken)]) == 2
    assert "not valid YAML at line 2" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "no such config file" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path)]) == 2  # a folder, not a file
    assert "cannot read it" in capsys.readouterr().err


def test_set_can_index_lists_and_keeps_the_other_items() -> None:
    config = load(TrainConfig, None, ["datasets.0.urls=[a.tar, b.tar]", "datasets.2.weight=0.5"])
    assert config.datasets[0].urls == ["a.tar", "b.tar"] and config.datasets[2].weight == 0.5
    assert [d.name for d in config.datasets] == ["interleaved", "ltip", "align"]
    with pytest.raises(ConfigError, match="not an index of a list of 3"):
        load(TrainConfig, None, ["datasets.5.weight=1"])
    with pytest.raises(ConfigError, match="precision must be"):
        load(TrainConfig, None, ["precision=fp64"])


def test_a_plan_mismatch_says_what_differs(tmp_path) -> None:
    plan = {"inputs": {"warc": ["a.warc.gz"]}, "config": {"filters": "m3w", "images": {"size": 320}}, "units": [1, 2]}
    check_plan(str(tmp_path), plan)
    changed = {"inputs": {"warc": ["a.warc.gz"]}, "config": {"filters": "obelics", "images": {"size": 224}}, "units": [1, 2]}
    with pytest.raises(PlanMismatch) as raised:
        check_plan(str(tmp_path), changed)
    message = str(raised.value)
    assert 'config.filters: "m3w" -> "obelics"' in message and "config.images.size: 320 -> 224" in message
    check_plan(str(tmp_path), plan)  # the same plan again is fine


def test_build_config_defaults_pass_their_own_checks() -> None:
    load(BuildConfig)
    load(TrainConfig)


def test_inspect_piped_into_head_ends_quietly(tmp_path) -> None:
    """A reader that goes away (``| head``) ends the command without a BrokenPipeError traceback."""
    from loader_fixtures import write_shards

    folder = tmp_path / "interleaved"
    write_shards(folder, [40])
    command = f"{sys.executable} -m flamboyance.cli inspect {folder} --limit 0 | head -n 2"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
