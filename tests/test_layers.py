"""The package layers: one namespace, imports pointing down only, nothing generic installed.

``lint-imports`` (in ``.ci/run``) checks the contract on module-level imports; this test
also reads every function-level and ``TYPE_CHECKING`` import, and any bare first-party
name (``import crawl``) that would only work from the repository folder.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
# Folder -> (package name, layer); a module may import from its own layer or those below.
PACKAGES = {
    "shards": ("flamboyance.shards", 0),
    "filter": ("flamboyance.filter", 1),
    "crawl": ("flamboyance.crawl", 2),
    "pretrain_encoder": ("flamboyance.pretrain_encoder", 3),
    "flamingo_model": ("flamboyance.flamingo_model", 4),
    "flamboyance": ("flamboyance", 5),
}
LAYER_OF = {name: layer for name, layer in PACKAGES.values()}


def layer(module: str) -> int | None:
    """The layer of a ``flamboyance.*`` module (the top-level modules of ``flamboyance`` are the top layer)."""
    parts = module.split(".")
    if parts[0] != "flamboyance":
        return None
    return LAYER_OF.get(".".join(parts[:2]), LAYER_OF["flamboyance"])


def modules() -> list[tuple[Path, str]]:
    found = []
    for folder, (package, _) in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            found.append((path, ".".join([package, *parts])))
    return found


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every module name an import statement anywhere in ``tree`` names (relative ones resolved)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.append((node.lineno, target))
            names += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return names


def test_no_module_imports_upward_or_by_a_bare_first_party_name() -> None:
    problems = []
    bare = set(PACKAGES) - {"flamboyance"}
    for path, module in modules():
        source_layer = layer(module)
        for line, name in imported(ast.parse(path.read_text()), module, path.name == "__init__.py"):
            where = f"{path.relative_to(ROOT)}:{line}"
            if name.split(".")[0] in bare:
                problems.append(f"{where}: bare first-party import {name}")
            target_layer = layer(name)
            if target_layer is not None and target_layer > source_layer:
                problems.append(f"{where}: {module} (layer {source_layer}) imports {name} (layer {target_layer})")
    assert not problems, "\n".join(problems)


def test_the_check_itself_sees_function_level_and_type_checking_imports() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from flamboyance.crawl.units import Unit\n"
        "def f():\n    from flamboyance.flamingo_model import model\n"
    )
    found = [name for _, name in imported(tree, "flamboyance.shards.x", False)]
    assert "flamboyance.crawl.units" in found and "flamboyance.flamingo_model.model" in found
    assert max(layer(name) or 0 for name in found) > layer("flamboyance.shards.x")


def test_every_package_folder_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    expected = {module for path, module in modules() if path.name == "__init__.py"}
    assert expected == listed
    assert {name for name, _ in PACKAGES.values()} == set(config["package-dir"])


@pytest.mark.parametrize("name", ["crawl", "filter", "shards", "pretrain_encoder", "flamingo_model"])
def test_only_the_namespace_is_importable_outside_the_repository(name: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ok = subprocess.run([sys.executable, "-c", f"import flamboyance.{name}, flamboyance"], cwd=tmp_path, env=env,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bare = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert bare.returncode != 0 and "ModuleNotFoundError" in bare.stderr
