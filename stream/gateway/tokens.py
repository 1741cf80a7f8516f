"""Per-device bearer tokens: issued once, stored only as a SHA-256 digest, bound to device+patient.

A token is 32 random bytes (``secrets``), so a plain SHA-256 digest is safe to keep: there is no
dictionary to guess from, and a digest lets a gateway find the grant in one lookup. The devices
topic holds one ``Grant`` per device id (key); issuing again replaces the device's token (rotation),
a tombstone revokes it.

>>> token, grant = issue("watch-1", "p-0001", now_ms=1_700_000_000_000)
>>> token.startswith(TOKEN_PREFIX), grant.token_sha256 == digest(token)
(True, True)
>>> registry = Registry()
>>> registry.apply(b"watch-1", grant.to_bytes())
>>> registry.find(token) == grant, registry.find("wmd_guess") is None
(True, True)
>>> registry.apply(b"watch-1", None)  # revoked
>>> registry.find(token) is None
True
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Final

import orjson

from wearmon.stream.core.schema import ID_PATTERN, PATIENT_ID_PATTERN

log = logging.getLogger(__name__)

TOKEN_PREFIX: Final = "wmd_"
GRANT_VERSION: Final = 1
_DEVICE_RE = re.compile(ID_PATTERN.removesuffix("$") + r"\Z")
_PATIENT_RE = re.compile(PATIENT_ID_PATTERN.removesuffix("$") + r"\Z")
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")


class GrantError(ValueError):
    """An id that cannot be granted, or a record of the devices topic that is not a grant."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token allows: uploads of ``device_id`` for ``patient_id``."""

    device_id: str
    patient_id: str
    token_sha256: str
    issued_at_ms: int

    @property
    def fingerprint(self) -> str:
        """A short, non-secret label of the token (first 8 hex digits of its digest)."""
        return self.token_sha256[:8]

    def to_bytes(self) -> bytes:
        return orjson.dumps({"version": GRANT_VERSION, **asdict(self)})

    @classmethod
    def from_bytes(cls, raw: bytes) -> Grant:
        try:
            doc = orjson.loads(raw)
            if not isinstance(doc, dict):
                raise GrantError("not a device grant: not a JSON object")
            if doc.get("version") != GRANT_VERSION:
                raise GrantError(f"unknown grant version {str(doc.get('version'))[:20]!r}")
            grant = cls(doc["device_id"], doc["patient_id"], doc["token_sha256"],
                        doc["issued_at_ms"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise GrantError(f"not a device grant: {type(exc).__name__}") from None
        grant.check()
        return grant

    def check(self) -> None:
        """``GrantError`` unless every field has its type and form."""
        if not all(isinstance(v, str) for v in (self.device_id, self.patient_id,
                                                 self.token_sha256)):
            raise GrantError("not a device grant: ids and digest must be strings")
        check_ids(self.device_id, self.patient_id)
        if not _DIGEST_RE.fullmatch(self.token_sha256):
            raise GrantError("not a device grant: the digest is not 64 hex digits")
        if type(self.issued_at_ms) is not int or self.issued_at_ms < 0:
            raise GrantError("not a device grant: issued_at_ms is not a time in ms")


def device_of(key: bytes | None) -> str:
    """The device id a record key names, or ``GrantError`` (no key, not UTF-8, not an id)."""
    if key is None:
        raise GrantError("a record without a key")
    try:
        device_id = key.decode()
    except UnicodeDecodeError:
        raise GrantError("a key that is not UTF-8") from None
    if not _DEVICE_RE.match(device_id):
        raise GrantError(f"a key that is not a device id ({ID_PATTERN})")
    return device_id


def check_ids(device_id: str, patient_id: str) -> None:
    """Raise ``GrantError`` unless both ids follow the telemetry contract."""
    if not _DEVICE_RE.match(device_id):
        raise GrantError(f"device id must match {ID_PATTERN}")
    if not _PATIENT_RE.match(patient_id):
        raise GrantError(f"patient id must match {PATIENT_ID_PATTERN}")


def issue(device_id: str, patient_id: str, now_ms: int) -> tuple[str, Grant]:
    """A new token (shown once) and the grant to publish for it."""
    check_ids(device_id, patient_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, Grant(device_id, patient_id, digest(token), now_ms)


class Registry:
    """The current grants, by token digest and by device id (built from the devices topic)."""

    def __init__(self) -> None:
        self.by_digest: dict[str, Grant] = {}
        self.by_device: dict[str, Grant] = {}
        self.skipped = 0  # records that are not grants nor tombstones

    def __len__(self) -> int:
        return len(self.by_device)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the devices topic: replace the device's grant, or revoke it (a
        tombstone). A record that is not a grant is a logged and counted skip (``skipped``),
        never an error: no key or a key that is not a device id changes nothing; a value that is
        not this device's grant leaves the device without a grant, as compaction would."""
        try:
            device_id = device_of(key)
            old = self.by_device.pop(device_id, None)
            if old is not None:
                self.by_digest.pop(old.token_sha256, None)
            if value is None:
                return  # revoked
            grant = Grant.from_bytes(value)
            if grant.device_id != device_id:
                raise GrantError("device_id does not match the record key")
        except GrantError as exc:
            self.skip(str(exc))
            return
        except Exception as exc:  # containment: the follower must go on whatever the record
            self.skip(f"unexpected {type(exc).__name__}")
            return
        self.by_device[device_id] = grant
        self.by_digest[grant.token_sha256] = grant

    def skip(self, why: str) -> None:
        self.skipped += 1
        log.error("devices topic: a record was skipped (%d so far): %s", self.skipped, why)

    def find(self, token: str) -> Grant | None:
        """The grant of a presented token, or None (unknown or revoked)."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        return self.by_digest.get(digest(token))
