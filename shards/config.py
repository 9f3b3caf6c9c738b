"""Configuration as plain dataclasses, loaded from YAML files and command-line overrides.

Every job (build, pretrain-encoder, train) describes its settings as nested dataclasses
with defaults. A YAML file overrides some of them and ``key.sub=value`` strings from the
command line override those. Unknown keys are an error that names the key, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Iterable, TypeVar

import yaml

from flamboyance.shards import storage

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file or override that does not fit the job's settings."""


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from a nested dict, recursing into dataclass-typed fields."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(where + k for k in unknown)}; known: {', '.join(sorted(known))}")
    values = {}
    for name, value in data.items():
        kind = _dataclass_type(hints[name])
        if kind is not None and isinstance(value, dict):
            value = from_dict(kind, value, f"{where}{name}.")
        elif hints[name] in (float, "float") and isinstance(value, (int, str)) and not isinstance(value, bool):
            # YAML 1.1 reads "1e-3" (no dot) as a string; take it as the number it means.
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where}{name} must be a number, not {value!r}") from None
        elif isinstance(value, dict) and known[name].default_factory is not dataclasses.MISSING:
            # A mapping setting (e.g. fetch.max_bytes) is updated key by key, so that
            # overriding one entry keeps the defaults of the others.
            default = known[name].default_factory()
            if isinstance(default, dict):
                value = {**default, **value}
        values[name] = value
    return cls(**values)


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain JSON-ready data (sets become sorted lists, tuples lists)."""
    return _plain(dataclasses.asdict(config))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load(cls: type[T], path: str | None = None, overrides: Iterable[str] = ()) -> T:
    """Defaults of ``cls``, then the YAML file at ``path``, then ``a.b=value`` overrides."""
    data: dict[str, Any] = {}
    if path:
        with storage.open_input(path) as stream:
            loaded = yaml.safe_load(stream.read()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        data = loaded
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep:
            raise ConfigError(f"override {override!r} is not of the form key.sub=value")
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return from_dict(cls, data)


def _dataclass_type(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint  # type: ignore[return-value]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if dataclasses.is_dataclass(arg):
                return arg  # type: ignore[return-value]
    return None


def add_arguments(parser: argparse.ArgumentParser, what: str, example: str) -> None:
    """The ``--config FILE`` and ``--set KEY=VALUE`` options every job takes (``args.overrides``)."""
    parser.add_argument("--config", help=f"YAML file of {what} (every key optional)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override one setting, e.g. --set {example} (repeatable)")
