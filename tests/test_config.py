"""minisora/config.py: strict dataclass <-> dict/YAML, overrides, errors that name key and choices."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from minisora.config import (ConfigError, apply_overrides, from_dict, load_yaml, parse_yaml, save_yaml, to_dict)


@dataclass
class Inner:
    size: int = 2
    rate: float = 0.5
    mode: Literal["a", "b"] = "a"


@dataclass
class Outer:
    name: str = "x"
    flag: bool = False
    inner: Inner = field(default_factory=Inner)
    shape: tuple[int, int, int] = (1, 2, 2)
    items: list[tuple[int, int]] = field(default_factory=list)
    maybe: int | None = None


def test_round_trip_through_yaml(tmp_path):
    obj = Outer(name="y", flag=True, inner=Inner(3, 1e-4, "b"), shape=(1, 4, 4), items=[(1, 2)], maybe=7)
    save_yaml(obj, tmp_path / "o.yaml")
    assert load_yaml(Outer, tmp_path / "o.yaml") == obj
    assert from_dict(Outer, to_dict(Outer())) == Outer()


def test_unknown_key_names_key_and_valid_keys():
    with pytest.raises(ConfigError, match=r"inner\.sise.*valid keys for Inner: size, rate, mode"):
        from_dict(Outer, {"inner": {"sise": 3}})


@pytest.mark.parametrize("data, pattern", [
    ({"inner": {"size": "3"}}, r"inner\.size: expected an integer"),
    ({"inner": {"size": True}}, r"inner\.size: expected an integer"),
    ({"inner": {"rate": "fast"}}, r"inner\.rate: expected a number"),
    ({"flag": 1}, r"flag: expected true or false"),
    ({"inner": {"mode": "c"}}, r"inner\.mode: 'c' is not valid; choose one of 'a', 'b'"),
    ({"shape": [1, 2]}, r"shape: expected 3 values"),
    ({"items": [[1, "x"]]}, r"items\[0\]\[1\]: expected an integer"),
])
def test_wrong_types_name_the_key(data, pattern):
    with pytest.raises(ConfigError, match=pattern):
        from_dict(Outer, data)


def test_overrides_are_typed_and_strict():
    o = apply_overrides(Outer(), ["inner.rate=3e-4", "inner.size=5", "shape=[1, 8, 8]", "maybe=null", "name=z"])
    assert o.inner.rate == 3e-4 and o.inner.size == 5 and o.shape == (1, 8, 8) and o.name == "z"
    with pytest.raises(ConfigError, match=r"unknown key 'inner\.nope'; valid here: size, rate, mode"):
        apply_overrides(Outer(), ["inner.nope=1"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(Outer(), ["inner.size"])


def test_yaml_floats_without_a_dot():
    # YAML 1.1 (PyYAML's default) reads "1e-4" as a string; configs and overrides read it as a number
    assert parse_yaml("lr: 1e-4") == {"lr": 1e-4}
    assert parse_yaml("[2E+3, -5e-1, 1.5e2, 7]") == [2000.0, -0.5, 150.0, 7]
    assert parse_yaml("'1e-4'") == "1e-4" and parse_yaml("e5") == "e5"
