"""``flamboyance train`` / ``eval`` as subcommand modules, and the demo's Flamingo step."""

from __future__ import annotations

import argparse
import json

from test_flamingo_train import run_config, shapes  # noqa: F401  (shared fixtures)

from flamboyance.flamingo_model import eval_command, train_command
from flamboyance.flamingo_model.demo import run_demo_flamingo


def parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def test_train_then_eval_from_the_command_line(run_config, shapes, tmp_path, capsys):  # noqa: F811
    output = f"output={tmp_path / 'run'}"
    assert train_command.run(parse(train_command, ["--config", str(run_config), "--set", output, "--set", "steps=2"])) == 0
    shown = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert shown == ["1", "2"]  # the run log's console lines
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged] == [1, 2] and all("loss/interleaved" in entry for entry in logged)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["steps"] == 2

    pairs = str(shapes / "pairs" / "*.tar")
    argv = [
        "--config",
        str(run_config),
        "--support",
        pairs,
        "--queries",
        pairs,
        "--shots",
        "2",
        "--rices",
        "--limit",
        "6",
        "--generate",
        "1",
        "--set",
        output,
    ]
    assert eval_command.run(parse(eval_command, argv)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("truth: ")
    result = json.loads(lines[-1])
    assert result["queries"] == 6 and 0 <= result["accuracy"] <= 1 and result["rices"]


def test_the_demo_step_trains_briefly_saves_its_parts_and_tests_few_shot(shapes, tmp_path, capsys):  # noqa: F811
    """The demo's Flamingo stage on the shape shards with a tiny tower: its saved run reloads, its test reports."""
    from flamboyance.flamingo_model.demo import few_shot_line
    from flamboyance.flamingo_model.inference import TrainedFlamingo
    from flamboyance.flamingo_model.tiny import write_tiny_parts

    _, encoder = write_tiny_parts(str(tmp_path / "parts"), ["A red circle."])
    result = run_demo_flamingo(str(shapes / "docs"), str(shapes / "pairs"), encoder, str(tmp_path), steps=3)
    assert result["steps"] == 3 and set(result["losses"]) == {"pairs"}  # the interleaved set is there at weight 0
    assert result["queries"] == 96 and result["chance"] == 1 / 24 and 0 <= result["control"] <= 1
    printed = capsys.readouterr().out
    assert "control, every image blanked" in printed and "language model:" in printed
    assert few_shot_line(result).startswith("few-shot: accuracy ")
    trained = TrainedFlamingo.load(str(tmp_path / "flamingo.yaml"))  # what `train`, `eval` and `serve` read
    assert isinstance(trained.caption(_a_jpeg(), max_new_tokens=4), str)


def _a_jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()
