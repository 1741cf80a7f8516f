"""Pure parts of the gateway: device grants and the admission decision."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wearmon.stream.core.validation import Limits
from wearmon.stream.gateway.admission import Refusal, admit
from wearmon.stream.gateway.tokens import (
    Grant,
    GrantError,
    Registry,
    check_ids,
    device_of,
    digest,
    issue,
)


def body(**changes: object) -> bytes:
    doc = {"schema_version": 1, "upload_id": "u-1", "device_id": "watch-1",
           "patient_id": "p-0001", "uploaded_at_ms": 1_000_000,
           "samples": [{"t_ms": 995_000, "hr_bpm": 61}, {"t_ms": 1_000_000, "hr_bpm": 300}]}
    return orjson.dumps({**doc, **changes})


def test_rotation_replaces_the_old_token_and_bad_records_are_ignored() -> None:
    registry = Registry()
    old, grant = issue("watch-1", "p-0001", now_ms=1)
    registry.apply(b"watch-1", grant.to_bytes())
    new, rotated = issue("watch-1", "p-0001", now_ms=2)
    registry.apply(b"watch-1", rotated.to_bytes())
    assert registry.find(old) is None and registry.find(new) == rotated and len(registry) == 1
    registry.apply(b"watch-2", b"{not a grant")  # ignored, with an error logged
    registry.apply(b"watch-3", grant.to_bytes())  # key and grant disagree: ignored
    assert set(registry.by_device) == {"watch-1"}
    assert rotated.token_sha256 == digest(new) != new  # only the digest is stored
    assert new not in rotated.to_bytes().decode()


def test_ids_must_follow_the_contract() -> None:
    check_ids("watch-1", "p-0001")
    with pytest.raises(GrantError, match="device id"):
        check_ids("watch 1", "p-0001")
    with pytest.raises(GrantError, match="patient id"):
        check_ids("watch-1", "p-1\n")


def test_admission_uses_the_workers_validation_and_the_grant() -> None:
    grant = Grant("watch-1", "p-0001", "0" * 64, 0)
    ok = admit(body(), grant, 1_000_000, Limits())
    assert not isinstance(ok, Refusal)
    assert [(i.field, i.reason) for i in ok.issues] == [("samples[1].hr_bpm", "out_of_range")]
    big = admit(body(), grant, 1_000_000, Limits(max_upload_bytes=50))
    assert isinstance(big, Refusal) and (big.status, big.reason) == (413, "too_large")
    empty = admit(body(samples=[]), grant, 1_000_000, Limits())
    assert isinstance(empty, Refusal)
    assert empty.to_json()["error"] == "empty" and empty.to_json()["field"] == "samples"
    other = admit(body(device_id="watch-2"), grant, 1_000_000, Limits())
    assert isinstance(other, Refusal) and (other.status, other.field) == (403, "device_id")


INTS = st.integers(-(2**63), 2**63 - 1)  # what JSON encoders write
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=70)
GRANT_VALUES = st.one_of(
    st.none(), st.binary(max_size=64),
    st.builds(orjson.dumps, st.recursive(
        st.none() | st.booleans() | INTS | st.floats(allow_nan=False) | TEXT,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
        max_leaves=8)),
    st.builds(lambda doc, changes: orjson.dumps({**doc, **changes}),
              st.just({"version": 1, "device_id": "watch-1", "patient_id": "p-0001",
                       "token_sha256": "a" * 64, "issued_at_ms": 5}),
              st.dictionaries(st.sampled_from(["version", "device_id", "patient_id",
                                               "token_sha256", "issued_at_ms"]),
                              st.none() | INTS | TEXT | st.booleans(),
                              max_size=2)))
KEYS = st.one_of(st.none(), st.just(b""), st.just(b"watch-1"), st.just(b"\xff\xfe"),
                 st.binary(max_size=8))


@given(records=st.lists(st.tuples(KEYS, GRANT_VALUES), max_size=6))
def test_every_record_shape_is_a_grant_a_revocation_or_a_counted_skip(
        records: list[tuple[bytes | None, bytes | None]]) -> None:
    registry = Registry()
    _, genuine = issue("watch-1", "p-0001", now_ms=1)
    registry.apply(b"watch-1", genuine.to_bytes())
    for key, value in [*records, (b"watch-1", genuine.to_bytes())]:
        before = registry.skipped
        registry.apply(key, value)  # never raises
        try:
            device = device_of(key)
        except GrantError:
            assert registry.skipped == before + 1
            continue
        grant = registry.by_device.get(device)
        if value is None:
            assert grant is None and registry.skipped == before  # a revocation, not a skip
        elif grant is None:
            assert registry.skipped == before + 1
        else:
            assert grant == Grant.from_bytes(value) and grant.device_id == device
            assert registry.by_digest[grant.token_sha256] == grant
    assert registry.find("wmd_x") is None and registry.by_device["watch-1"] == genuine
    assert set(registry.by_digest.values()) == set(registry.by_device.values())
