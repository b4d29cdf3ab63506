"""Type-driven conversion between frozen dataclasses and JSON-ready data.

One decoder for every instance and solution type, so that every bad field is
reported the same way: ``InputError("tasks[3].release_s: must be >= 0, got -1")``.
Each dataclass validates its own fields in ``__post_init__`` by raising
``ValueError("field: message")``; the decoder prefixes the path from the root.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin


class InputError(ValueError):
    """Bad input: one line naming the field path and the bad value."""


def _fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def decode(tp: Any, data: Any, path: str = "") -> Any:
    """Build a value of type ``tp`` from JSON-like ``data``; raise InputError naming ``path``."""
    origin = get_origin(tp)
    where = path or "<root>"
    if tp is Any:
        return data
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if data is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return decode(non_none[0], data, path)
        raise TypeError(f"unsupported union {tp}")
    if origin is Literal:
        if data not in get_args(tp):
            choices = ", ".join(repr(a) for a in get_args(tp))
            raise InputError(f"{where}: must be one of {choices}, got {_fmt(data)}")
        return data
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(data, list | tuple):
            raise InputError(f"{where}: expected a list, got {_fmt(data)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], item, _join(path, i)) for i, item in enumerate(data))
        if len(data) != len(args):
            raise InputError(f"{where}: expected {len(args)} items, got {_fmt(data)}")
        return tuple(
            decode(a, item, _join(path, i)) for i, (a, item) in enumerate(zip(args, data, strict=True))
        )
    if origin is dict:
        key_tp, val_tp = get_args(tp)
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected an object, got {_fmt(data)}")
        return {decode(key_tp, k, path): decode(val_tp, v, _join(path, k)) for k, v in data.items()}
    if dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, data, path)
    if tp is bool:
        if not isinstance(data, bool):
            raise InputError(f"{where}: expected true or false, got {_fmt(data)}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise InputError(f"{where}: expected an integer, got {_fmt(data)}")
        return data
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise InputError(f"{where}: expected a number, got {_fmt(data)}")
        value = float(data)
        if not math.isfinite(value):
            raise InputError(f"{where}: must be a finite number, got {_fmt(data)}")
        return value
    if tp is str:
        if not isinstance(data, str):
            raise InputError(f"{where}: expected a string, got {_fmt(data)}")
        return data
    raise TypeError(f"unsupported type {tp!r} at {where}")


def _decode_dataclass(cls: type, data: Any, path: str) -> Any:
    where = path or "<root>"
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected an object, got {_fmt(data)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(f"{_join(path, unknown[0])}: unknown field")
    kwargs = {}
    for name, field in fields.items():
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise InputError(f"{_join(path, name)}: missing required field")
            continue
        kwargs[name] = decode(hints[name], data[name], _join(path, name))
    try:
        return cls(**kwargs)
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(_prefix(path, str(exc))) from None


def _prefix(path: str, message: str) -> str:
    """Prefix a validator's 'field: message' with the object's path."""
    if not path:
        return message
    if message.startswith("["):
        return f"{path}{message}"
    return f"{path}.{message}"


def encode(value: Any) -> Any:
    """Dataclass tree -> JSON-ready data (tuples become lists, field order kept)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


# ---- small validators used by the data types -------------------------------------------------


def check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name}: must be > 0, got {_fmt(value)}")


def check_nonneg(name: str, value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{name}: must be >= 0, got {_fmt(value)}")


def check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ValueError(f"{name}: must be in [{lo}, {hi}], got {_fmt(value)}")


def check_unique(name: str, ids: typing.Iterable[str]) -> None:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        if x in seen:
            raise ValueError(f"{name}[{i}].id: duplicate id {x!r}")
        seen.add(x)


def check_id(name: str, value: str) -> None:
    if not value or not isinstance(value, str) or any(c in value for c in ": \t\n"):
        raise ValueError(f"{name}: ids must be non-empty without spaces or ':', got {_fmt(value)}")
