"""What validation reports: an ``Issue`` names the field (a JSON path) and the reason."""

from __future__ import annotations

from dataclasses import dataclass

SAFE_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem with one field; ``field`` is a JSON path such as ``samples[3].hr_bpm``."""

    field: str
    reason: str
    detail: str


class Reject(Exception):
    """The whole upload is refused because of this issue."""

    def __init__(self, field_path: str, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.issue = Issue(field_path, reason, detail)


def key_name(key: object) -> str:
    """A sender's key as it may appear in a field path: printable ASCII, at most 40 characters.

    >>> key_name("hr_bpm"), key_name("a\\nb"), key_name("\\ud800")
    ('hr_bpm', "'a\\\\nb'", "'\\\\ud800'")
    """
    text = str(key)
    if text and len(text) <= 40 and set(text) <= SAFE_KEY_CHARS:
        return text
    return ascii(text[:40])


def as_bytes(value: object) -> bytes:
    """A record's original value as bytes, whatever it is: the error path never fails on it.

    >>> as_bytes(None), as_bytes(b"\\xff"), as_bytes("\\ud800"), as_bytes(7)
    (b'', b'\\xff', b'\\xed\\xa0\\x80', b'7')
    """
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass")


def safe_text(value: object) -> str:
    """``value`` as text that any encoder takes (lone surrogates escaped).

    >>> safe_text("p-1"), safe_text("\\ud800x"), safe_text(None)
    ('p-1', '\\\\ud800x', 'None')
    """
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
