"""Reading a record that any producer may have written: a dataclass whose every field has the
type it is declared with, or ``Unreadable`` naming the field and the reason.

A topic's value can be a tombstone (``None``), empty, not UTF-8, not JSON, JSON of another
topic's schema, or this schema with a wrong type in one field (``"patient": 5``). A reader must
refuse them all at the door: a value of the wrong type that got in would fail later, outside the
code that contains bad records.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Note:
...     patient: str
...     at_ms: int
...     due_ms: int | None = None
>>> read_json(b'{"patient": "p-1", "at_ms": 5}', lambda doc: typed(Note, doc))
Note(patient='p-1', at_ms=5, due_ms=None)
>>> for raw in [None, b"", b"\\xff", b"[1]", b'{"patient": 5, "at_ms": 5}', b'{"patient": "p"}']:
...     try:
...         read_json(raw, lambda doc: typed(Note, doc))
...     except Unreadable as error:
...         print(error.field, error.reason)
$ empty
$ empty
$ not_json
$ not_an_object
patient wrong_type
$ wrong_schema
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


class Unreadable(ValueError):
    """A record that cannot be read: the field (a JSON path, ``$`` for the whole value) and the
    reason (a short code for the dead letter); the message never holds the record's content."""

    def __init__(self, field: str, reason: str, detail: str) -> None:
        super().__init__(f"{field}: {reason} ({detail})")
        self.field = field
        self.reason = reason
        self.detail = detail


def read_json(raw: bytes | None, build: Callable[[dict[str, Any]], T]) -> T:
    """``build`` applied to the JSON object ``raw`` holds; any failure is ``Unreadable``."""
    if not raw:
        raise Unreadable("$", "empty", "the record holds no value (an empty value or a tombstone)")
    try:
        doc = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError) as error:
        raise Unreadable("$", "not_json", type(error).__name__) from None
    if not isinstance(doc, dict):
        raise Unreadable("$", "not_an_object", f"a JSON {type(doc).__name__}")
    try:
        return build(doc)
    except Unreadable:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise Unreadable("$", "wrong_schema", type(error).__name__) from None


def typed(cls: type[T], data: dict[str, Any]) -> T:
    """``cls(**data)`` once every value has its field's declared type (``wrong_type`` else)."""
    declared = field_types(typing.cast(type, cls))
    for name, value in data.items():
        expected = declared.get(name)
        if expected is None:
            raise Unreadable(name, "unknown_field", "not a field of this record")
        if not conforms(value, expected):
            raise Unreadable(name, "wrong_type", f"{type(value).__name__}, not {name_of(expected)}")
    return cls(**data)


def checked(doc: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """``doc`` once each named field has its type (a missing one is ``None``), else
    ``Unreadable``; other fields are left as they are.

    >>> checked({"ward": "A", "at_ms": 5}, {"ward": str, "at_ms": int})
    {'ward': 'A', 'at_ms': 5}
    >>> checked({"ward": "A"}, {"ward": str, "at_ms": int})
    Traceback (most recent call last):
    ...
    wearmon.stream.core.records.Unreadable: at_ms: wrong_type (NoneType, not int)
    """
    for name, kind in expected.items():
        value = doc.get(name)
        if not conforms(value, kind):
            raise Unreadable(name, "wrong_type", f"{type(value).__name__}, not {name_of(kind)}")
    return doc


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def name_of(kind: Any) -> str:
    return kind.__name__ if isinstance(kind, type) else str(kind)


def conforms(value: object, expected: Any) -> bool:
    """``value`` is of type ``expected`` (a class, unions, ``tuple[X, ...]`` and ``list[X]``);
    a bool is not an int, an int is a float.

    >>> conforms(True, int), conforms(3, float), conforms(None, int | None)
    (False, True, True)
    >>> conforms((1,), tuple[int, ...]), conforms([1], tuple[int, ...])
    (True, False)
    """
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, option) for option in typing.get_args(expected))
    if origin in (tuple, list):
        item = typing.get_args(expected)[0]
        return isinstance(value, origin) and all(conforms(v, item) for v in value)
    if expected is type(None):
        return value is None
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return expected is Any or (isinstance(expected, type) and isinstance(value, expected))
