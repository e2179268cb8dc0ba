"""Typed configuration: dataclasses are the only place a default lives; YAML only serialises them.

Each component defines its own dataclass next to its code (`vae/config.py`, `dit/config.py`, ...)
with named presets. This module holds the shared machinery:

- `from_dict(cls, data)`: builds a (possibly nested) dataclass, rejecting unknown keys and wrong
  types with an error that names the key and what would be valid;
- `to_dict(obj)`: the inverse, JSON/YAML-ready;
- `apply_overrides(obj, ["a.b=3", ...])`: command-line `key=value` overrides, typed by the field;
- `load_yaml` / `save_yaml`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2 floats without a dot ("1e-4" is a number, not a string)."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def parse_yaml(text: str) -> Any:
    """YAML text -> Python values (safe: plain data only)."""
    return yaml.load(text, Loader=_Loader)


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the key and the valid choices."""


def to_dict(obj: Any) -> Any:
    """Dataclass (nested) -> plain dict/list/scalars."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def from_dict(cls: type[T], data: dict, path: str = "") -> T:
    """Build dataclass `cls` from `data`; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path or cls.__name__}: expected a mapping, got {type(data).__name__}")
    # a config whose layout changed reads its older forms (files and checkpoints users already have)
    # through its `upgrade_old_forms(data, where) -> data`, which says what it converted
    upgrade = getattr(cls, "upgrade_old_forms", None)
    if upgrade is not None:
        data = upgrade(data, path or cls.__name__)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(_join(path, k) for k in unknown)}; "
                          f"valid keys for {cls.__name__}: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(hints[k], v, _join(path, k)) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field is missing
        raise ConfigError(f"{path or cls.__name__}: {e}") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{path}: {value!r} matches none of {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{path}: {value!r} is not valid; choose one of {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{path}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        inner = args[0] if args else Any
        out = [_coerce(inner, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        if not math.isfinite(value):  # `.nan` / `.inf` in YAML, NaN in JSON: never a usable setting
            raise ConfigError(f"{path}: {value!r} is not a finite number; give a finite value")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    return value


def apply_overrides(obj: T, overrides: list[str]) -> T:
    """Return a copy of dataclass `obj` with `key.sub=value` overrides (values parsed as YAML)."""
    data = to_dict(obj)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (for example train.lr=3e-4)")
        key, raw = item.split("=", 1)
        node = data
        parts = key.split(".")
        for i, p in enumerate(parts):
            if not isinstance(node, dict):  # e.g. precision.dtype=fp32 where precision is one value
                raise ConfigError(f"unknown key {key!r}: {'.'.join(parts[:i])!r} is a single value, not a "
                                  f"section; set it as {'.'.join(parts[:i])}=VALUE")
            if p not in node:
                raise ConfigError(f"unknown key {'.'.join(parts[:i + 1])!r}; valid here: {', '.join(node)}")
            if i == len(parts) - 1:
                node[p] = parse_yaml(raw)
            else:
                node = node[p]
    return from_dict(type(obj), data)


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise ConfigError(f"{what} file {str(path)!r} does not exist")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); a {what} file must be UTF-8") from None


def read_yaml(path: str | Path) -> Any:
    """A YAML file -> plain data; malformed YAML raises ConfigError naming the file, line and column."""
    path = Path(path)
    text = _read_text(path, "YAML")
    try:
        return parse_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None


def read_json(path: str | Path) -> Any:
    """A JSON file -> plain data; invalid JSON raises ConfigError naming the file, line and column."""
    path = Path(path)
    text = _read_text(path, "JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None


def load_yaml(cls: type[T], path: str | Path) -> T:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    data = read_yaml(path) or {}
    try:
        return from_dict(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def save_yaml(obj: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(obj), sort_keys=False))


def save_json(obj: Any, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_dict(obj), indent=2) + "\n")


def load_json(cls: type[T], path: str | Path) -> T:
    try:
        return from_dict(cls, read_json(path))
    except ConfigError as e:
        if str(e).startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {e}") from None
