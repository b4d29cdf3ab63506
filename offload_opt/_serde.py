"""Type-driven conversion between frozen dataclasses and JSON-ready data.

One decoder for every instance and solution type, so that every bad field is
reported the same way: ``InputError("tasks[3].release_s: must be >= 0, got -1")``.
Each dataclass validates its own fields in ``__post_init__`` by raising
``ValueError("field: message")``; the decoder prefixes the path from the root.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from functools import cache
from json.encoder import encode_basestring_ascii as _encode_str
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


class _Bad(Exception):
    """A decoding error on its way up: ``keys`` collects the path innermost first, so that the path
    string is built once, when an error happens, and never for the millions of good values."""

    def __init__(self, text: str, prefix: bool = False, complete: bool = False) -> None:
        super().__init__(text)
        self.text = text  # ": expected ..." after the path, or a validator's "field: message"
        self.prefix = prefix  # True: a validator's message, joined to the path by _prefix
        self.complete = complete  # True: an InputError's message, used as it is
        self.keys: list[str | int] = []

    def message(self, path: str) -> str:
        if self.complete:
            return self.text
        for key in reversed(self.keys):
            path = _join(path, key)
        if self.prefix:
            return _prefix(path, self.text)
        return f"{path or '<root>'}{self.text}"


Decoder = typing.Callable[[Any], Any]


def decode(tp: Any, data: Any, path: str = "") -> Any:
    """Build a value of type ``tp`` from JSON-like ``data``; raise InputError naming ``path``."""
    try:
        return _decoder(tp)(data)
    except _Bad as bad:
        raise InputError(bad.message(path)) from None


@cache
def _decoder(tp: Any) -> Decoder:
    """One decoding function per type, built once: the per-value work is only the checks."""
    origin = get_origin(tp)
    if tp is Any:
        return _identity
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) != 1:
            raise TypeError(f"unsupported union {tp}")
        inner = _decoder(non_none[0])
        if type(None) not in args:
            return inner
        return lambda data: None if data is None else inner(data)
    if origin is Literal:
        return _literal_decoder(get_args(tp))
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return _tuple_decoder(_decoder(args[0]))
        return _fixed_tuple_decoder(tuple(_decoder(a) for a in args))
    if origin is dict:
        key_tp, val_tp = get_args(tp)
        return _dict_decoder(_decoder(key_tp), _decoder(val_tp))
    if dataclasses.is_dataclass(tp):
        return _dataclass_decoder(typing.cast(type, tp))
    if tp in _SCALARS:
        return _SCALARS[tp]
    raise TypeError(f"unsupported type {tp!r}")


def _identity(data: Any) -> Any:
    return data


def _bool(data: Any) -> bool:
    if not isinstance(data, bool):
        raise _Bad(f": expected true or false, got {_fmt(data)}")
    return data


def _int(data: Any) -> int:
    if isinstance(data, bool) or not isinstance(data, int):
        raise _Bad(f": expected an integer, got {_fmt(data)}")
    if abs(data) > MAX_INT:
        raise _Bad(f": must be at most 2**53 in magnitude, got {_fmt(data)}")
    return data


def _float(data: Any) -> float:
    if isinstance(data, bool) or not isinstance(data, int | float):
        raise _Bad(f": expected a number, got {_fmt(data)}")
    if isinstance(data, int) and abs(data) > MAX_INT:  # float() of a 400-digit int overflows
        raise _Bad(f": must be a finite number, got {_fmt(data)}")
    value = float(data)
    if not math.isfinite(value):
        raise _Bad(f": must be a finite number, got {_fmt(data)}")
    return value


def _str(data: Any) -> str:
    if not isinstance(data, str):
        raise _Bad(f": expected a string, got {_fmt(data)}")
    return data


_SCALARS: dict[Any, Decoder] = {bool: _bool, int: _int, float: _float, str: _str}


def _literal_decoder(choices: tuple[Any, ...]) -> Decoder:
    listed = ", ".join(repr(a) for a in choices)

    def dec(data: Any) -> Any:
        if data not in choices:
            raise _Bad(f": must be one of {listed}, got {_fmt(data)}")
        return data

    return dec


def _tuple_decoder(item: Decoder) -> Decoder:
    def dec(data: Any) -> tuple[Any, ...]:
        if not isinstance(data, list | tuple):
            raise _Bad(f": expected a list, got {_fmt(data)}")
        out = []
        for i, x in enumerate(data):
            try:
                out.append(item(x))
            except _Bad as bad:
                bad.keys.append(i)
                raise
        return tuple(out)

    return dec


def _fixed_tuple_decoder(items: tuple[Decoder, ...]) -> Decoder:
    def dec(data: Any) -> tuple[Any, ...]:
        if not isinstance(data, list | tuple):
            raise _Bad(f": expected a list, got {_fmt(data)}")
        if len(data) != len(items):
            raise _Bad(f": expected {len(items)} items, got {_fmt(data)}")
        out = []
        for i, (d, x) in enumerate(zip(items, data, strict=True)):
            try:
                out.append(d(x))
            except _Bad as bad:
                bad.keys.append(i)
                raise
        return tuple(out)

    return dec


def _dict_decoder(key: Decoder, value: Decoder) -> Decoder:
    def dec(data: Any) -> dict[Any, Any]:
        if not isinstance(data, dict):
            raise _Bad(f": expected an object, got {_fmt(data)}")
        out = {}
        for k, v in data.items():
            dk = key(k)
            try:
                out[dk] = value(v)
            except _Bad as bad:
                bad.keys.append(k)
                raise
        return out

    return dec


def _dataclass_decoder(cls: type) -> Decoder:
    hints = _hints(cls)
    fields = [
        (f.name, f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(cls)
        if f.init
    ]
    known = frozenset(name for name, _ in fields)
    # decoders are looked up on first use: a dataclass may (indirectly) contain its own type
    decoders: dict[str, Decoder] = {}

    def dec(data: Any) -> Any:
        if not isinstance(data, dict):
            raise _Bad(f": expected an object, got {_fmt(data)}")
        if not known.issuperset(data):
            unknown = _Bad(": unknown field")
            unknown.keys.append(sorted(set(data) - known)[0])
            raise unknown
        kwargs = {}
        for name, required in fields:  # declared order, so the first bad field is reported
            if name not in data:
                if required:
                    missing = _Bad(": missing required field")
                    missing.keys.append(name)
                    raise missing
                continue
            d = decoders.get(name)
            if d is None:
                d = decoders[name] = _decoder(hints[name])
            try:
                kwargs[name] = d(data[name])
            except _Bad as bad:
                bad.keys.append(name)
                raise
        try:
            return cls(**kwargs)
        except InputError as exc:  # a complete message already (from the root): pass it on unchanged
            raise _Bad(str(exc), complete=True) from None
        except ValueError as exc:
            raise _Bad(str(exc), prefix=True) from None

    return dec


def _prefix(path: str, message: str) -> str:
    """Prefix a validator's 'field: message' with the object's path."""
    if not path:
        return message
    if message.startswith("["):
        return f"{path}{message}"
    return f"{path}.{message}"


_INIT_FIELDS: dict[type, tuple[str, ...]] = {}


def _init_fields(cls: type) -> tuple[str, ...]:
    names = _INIT_FIELDS.get(cls)
    if names is None:
        names = _INIT_FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    return names


# Field metadata of a field added after schema version 1: the field is left out of the JSON while
# it holds its default, so a version-1 file read and written again stays byte-identical (and keeps
# its digest), and a default that means "as in version 1" never has to be spelled out.
SINCE_V2: dict[str, Any] = {"omit_default": True}
_OMIT: dict[type, dict[str, Any]] = {}


def _omit_defaults(cls: type) -> dict[str, Any]:
    """name -> default of the fields of ``cls`` left out of the JSON while they hold their default."""
    out = _OMIT.get(cls)
    if out is None:
        out = _OMIT[cls] = {
            f.name: f.default
            for f in dataclasses.fields(cls)
            if f.init and f.metadata.get("omit_default") and f.default is not dataclasses.MISSING
        }
    return out


def _encoded_fields(value: Any) -> list[str]:
    names = _init_fields(type(value))
    omit = _omit_defaults(type(value))
    if not omit:
        return list(names)
    return [n for n in names if n not in omit or getattr(value, n) != omit[n]]


_PLAIN = (str, int, float, bool, type(None))


_IS_DATACLASS: dict[type, bool] = {}


def _is_dataclass_type(cls: type) -> bool:
    known = _IS_DATACLASS.get(cls)
    if known is None:
        known = _IS_DATACLASS[cls] = dataclasses.is_dataclass(cls)
    return known


def encode(value: Any) -> Any:
    """Dataclass tree -> JSON-ready data (tuples become lists, field order kept)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: encode(getattr(value, name)) for name in _encoded_fields(value)}
    return value


class _Unusual(Exception):
    """A value canonical_json does not handle itself (e.g. a non-string dict key): use the stdlib."""


def canonical_json(value: Any) -> str:
    """``json.dumps(encode(value), indent=1, allow_nan=False)``, byte for byte, about twice as fast.

    The stdlib's pure-Python indenting encoder is what made ``show`` and ``digest`` slow on
    50,000 tasks; this writes the same text from the dataclasses directly, without building
    the intermediate dicts (a test checks the equality on generated and hand-made data).
    """
    out: list[str] = []
    try:
        _write(value, out, "\n")
    except _Unusual:
        return json.dumps(encode(value), indent=1, allow_nan=False)
    return "".join(out)


def _write(v: Any, out: list[str], nl: str) -> None:
    """Append the JSON of ``v`` at the indentation ``nl`` (a newline and one space per level)."""
    if isinstance(v, str):
        out.append(_encode_str(v))
    elif v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        out.append(int.__repr__(v))
    elif isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("Out of range float values are not JSON compliant: " + repr(v))
        out.append(float.__repr__(v))
    elif isinstance(v, list | tuple):
        if not v:
            out.append("[]")
            return
        inner = nl + " "
        out.append("[")
        sep = inner
        for item in v:
            out.append(sep)
            _write(item, out, inner)
            sep = "," + inner
        out.append(nl)
        out.append("]")
    elif isinstance(v, dict):
        if not v:
            out.append("{}")
            return
        _write_items(v.items(), out, nl)
    elif _is_dataclass_type(type(v)):
        names = _encoded_fields(v)
        if not names:
            out.append("{}")
            return
        _write_items(((n, getattr(v, n)) for n in names), out, nl)
    else:
        raise _Unusual(type(v).__name__)


def _write_items(items: typing.Iterable[tuple[Any, Any]], out: list[str], nl: str) -> None:
    inner = nl + " "
    out.append("{")
    sep = inner
    for key, item in items:
        if not isinstance(key, str):
            raise _Unusual("key")
        out.append(sep)
        out.append(_encode_str(key))
        out.append(": ")
        _write(item, out, inner)
        sep = "," + inner
    out.append(nl)
    out.append("}")


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
