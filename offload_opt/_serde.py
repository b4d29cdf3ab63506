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

MAX_MESSAGE_CHARS = 300  # an error message stays one readable line whatever the bad value was
MAX_INT = 2**53  # every integer field must be exact as a float (token and byte counts feed float sums)
MAX_JSON_DEPTH = 32  # free-form JSON (``meta``) nests at most this deep


class InputError(ValueError):
    """Bad input: one line naming the field path and the bad value (long messages are cut)."""

    def __init__(self, message: str) -> None:
        message = " ".join(str(message).splitlines())
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 3] + "..."
        super().__init__(message)


def _fmt(value: Any) -> str:
    """A short repr of a bad value for a message: at most 60 characters, never raising."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<an integer of {len(str(abs(value))) if value.bit_length() < 14000 else 'over 4000'} digits>"
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # a deeply nested container, or an int too long to print
        return f"<a deeply nested {type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


fmt_value = _fmt


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
        if abs(data) > MAX_INT:
            raise InputError(f"{where}: must be at most 2**53 in magnitude, got {_fmt(data)}")
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


def check_max(name: str, value: float, hi: float) -> None:
    """``value <= hi``: the documented upper end of a field's range."""
    if not value <= hi:
        raise ValueError(f"{name}: must be <= {hi:g}, got {_fmt(value)}")


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


KEY_SEPARATORS = "/>"  # activity keys are "<task>/<op>" and "<task>/<src>><dst>" (solution.py)


def check_key_id(name: str, value: str) -> None:
    """An id that becomes part of an activity key: also without '/' or '>', so keys never collide."""
    check_id(name, value)
    if any(c in value for c in KEY_SEPARATORS):
        raise ValueError(f"{name}: ids of tasks, jobs and ops must not contain '/' or '>', got {_fmt(value)}")


def check_finite_range(name: str, value: float, lo: float, hi: float) -> None:
    """``lo <= value <= hi`` (the documented range of a number; NaN fails)."""
    if not lo <= value <= hi:
        raise ValueError(f"{name}: must be in [{lo:g}, {hi:g}], got {_fmt(value)}")


def check_json_value(name: str, value: Any, depth: int = 0) -> None:
    """Free-form JSON data (``meta``): finite numbers, string keys, at most MAX_JSON_DEPTH levels."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{name}: nested deeper than {MAX_JSON_DEPTH} levels")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError(f"{name}: must be at most 2**53 in magnitude, got {_fmt(value)}")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name}: must be a finite number, got {_fmt(value)}")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{name}: keys must be strings, got {_fmt(k)}")
            check_json_value(_join(name, k), v, depth + 1)
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_json_value(_join(name, i), v, depth + 1)
        return
    raise ValueError(f"{name}: not JSON data, got {type(value).__name__}")
