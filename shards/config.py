"""Configuration as plain dataclasses, loaded from YAML files and command-line overrides.

Every job (build, pretrain-encoder, train) describes its settings as nested dataclasses
with defaults. A YAML file overrides some of them and ``key.sub=value`` strings from the
command line override those. Unknown keys are an error that names the key, so a typo
never silently falls back to a default; so are values of the wrong type and negative
numbers (no setting of ours is meaningfully negative), all reported as one-line
``ConfigError`` before any work (or Ray) starts. ``--set`` can reach into lists by index:
``datasets.0.urls=[a.tar]``.
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
        _check(value, hints[name], f"{where}{name}")
        values[name] = value
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:  # a dataclass's own checks (__post_init__)
        raise ConfigError(f"{where.rstrip('.') or cls.__name__}: {error}") from None


_TYPE_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}
_PLURALS = {int: "whole numbers", float: "numbers", bool: "true or false values", str: "strings"}


def _check(value: Any, hint: Any, name: str) -> None:
    """Raise ConfigError unless ``value`` fits the type ``hint`` (shallowly) and is not negative."""
    if not _fits(value, hint):
        raise ConfigError(f"{name} must be {_describe(hint)}, not {value!r}")
    numbers = list(value.values()) if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0 for v in numbers):
        raise ConfigError(f"{name} must not be negative, not {value!r}")


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, (hint, dict))
    if origin in (list, set, frozenset) or (origin is tuple and (not args or args[-1] is Ellipsis)):
        if not isinstance(value, (list, tuple, set, frozenset)):
            return False
        return not args or all(_fits(item, args[0]) for item in value)
    if origin is tuple:  # a fixed-length tuple such as tuple[float, float]
        return isinstance(value, (list, tuple)) and len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
    if origin is dict:
        return isinstance(value, dict)
    return True  # other annotations: left to the dataclass


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("empty (null)" if arg is type(None) else _describe(arg) for arg in args)
    if origin in (list, tuple, set, frozenset):
        return "a list" + (f" of {_PLURALS[args[0]]}" if args and args[0] in _PLURALS else "")
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(hint):
        return "a mapping of settings"
    return _TYPE_NAMES.get(hint, getattr(hint, "__name__", str(hint)))


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
    """Defaults of ``cls``, then the YAML file at ``path``, then ``a.b=value`` overrides (``a.0.b`` indexes a list)."""
    data: dict[str, Any] = {}
    if path:
        try:
            with storage.open_input(path) as stream:
                loaded = yaml.safe_load(stream.read()) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except OSError as error:
            raise ConfigError(f"{path}: cannot read it ({error.strerror or error})") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}: not valid YAML{where} ({getattr(error, 'problem', None) or error})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        data = loaded
    defaults: dict[str, Any] | None = None
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep:
            raise ConfigError(f"override {override!r} is not of the form key.sub=value")
        parts = key.strip().split(".")
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                node = _list_item(node, part, key)
                continue
            if part not in node:
                defaults = defaults if defaults is not None else to_dict(cls())  # type: ignore[call-arg]
                default = _at(defaults, parts[: depth + 1])
                # Lists are copied from the defaults so that one item can be changed by index.
                node[part] = default if isinstance(default, list) else {}
            node = node[part]
        value = yaml.safe_load(raw)
        if isinstance(node, list):
            _list_item(node, parts[-1], key)  # refuses an index out of range
            node[int(parts[-1])] = value
        elif isinstance(node, dict):
            node[parts[-1]] = value
        else:
            raise ConfigError(f"override {override!r}: {'.'.join(parts[:-1])} is not a group of settings")
    return from_dict(cls, data)


def _list_item(items: list, part: str, key: str) -> Any:
    if not part.isdigit() or int(part) >= len(items):
        raise ConfigError(f"override {key!r}: {part!r} is not an index of a list of {len(items)}")
    return items[int(part)]


def _at(data: Any, parts: list[str]) -> Any:
    """The value at a dotted path of plain data (None where the path does not exist)."""
    for part in parts:
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


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
