"""The sink's pure steps: points records written by the worker come back as exactly the lines of
the processed uploads; refusals trace to their upload; no record shape stops a batch."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_lines_batch import processed
from wearmon.stream.core.issues import Issue
from wearmon.stream.core.validation import Rejection
from wearmon.stream.sinks.decode import Received, decode
from wearmon.stream.sinks.influx import InfluxRejectedError
from wearmon.stream.sinks.lines import batch_lines, pipeline_line, rejection_line
from wearmon.stream.sinks.records import (
    PipelineHealth,
    UploadPoints,
    encode_upload,
    points_records,
)
from wearmon.stream.sinks.service import refused_letter
from wearmon.stream.sinks.traced import write_traced

KINDS = {"p": "points", "r": "rejected", "a": "alerts", "d": "deliveries"}


def uploads() -> list[UploadPoints]:
    return [UploadPoints.observed(r) for batch in processed(10, 1)[:3] for r in batch]


def received(values: Iterable[bytes | None], topic: str = "p") -> list[Received]:
    return [Received(topic, 0, offset, 1_750_000_000_000, value)
            for offset, value in enumerate(values)]


def test_points_records_hold_exactly_the_points_of_the_uploads() -> None:
    points = uploads()
    health = PipelineHealth("w-1", 1_750_000_000_000, {"uploads": 3.0, "batch_ms": 12.5})
    records = list(points_records([encode_upload(u) for u in points], health, max_bytes=20_000))
    assert len(records) > 1  # several records, each within the size
    decoded = decode(received(records), KINDS)
    expected = [line for group in batch_lines(points) for line in group]
    assert sorted(line for g in decoded.groups for line in g.lines) == sorted(
        [*expected, pipeline_line(health)])
    assert decoded.dead_letters == [] and decoded.unreadable == {}
    assert [g.upload_id for g in decoded.groups if g.upload_id] == [u.upload_id for u in points]


class Refusing:
    """Refuses (as InfluxDB's 400) any request with a line of the second upload's patient."""

    def __init__(self, patient: str) -> None:
        self.patient = patient
        self.written: list[str] = []

    async def write(self, lines: Iterable[str]) -> int:
        lines = list(lines)
        if any(f"patient={self.patient}," in x or f"patient={self.patient} " in x
               for x in lines):
            raise InfluxRejectedError(400, "field type conflict")
        self.written += lines
        return len(lines)


async def test_refused_points_are_traced_to_their_upload_and_the_rest_is_written() -> None:
    points = uploads()[:4]
    refused_patient = points[1].patient_id
    decoded = decode(received(points_records([encode_upload(u) for u in points])), KINDS)
    writer = Refusing(refused_patient)
    written, refused = await write_traced(writer, [(g, g.lines) for g in decoded.groups])
    assert written == len(writer.written) > 0
    letters = [refused_letter(group, error) for group, error in refused]
    assert {(r.patient_id, r.reason) for r in letters if r} == {(refused_patient,
                                                                  "sink_refused")}
    assert all(orjson.loads(r.original)["patient_id"] == refused_patient for r in letters if r)
    assert not any(f"patient={refused_patient}" in x for x in writer.written)


def test_a_dead_letter_record_becomes_the_rejected_point_of_its_rejection() -> None:
    rejection = Rejection((Issue("samples[0].hr_bpm", "out_of_range", "999 bpm"),),
                          b'{"upload": 1}', 1_750_000_000_123, "p-0001", "u-1", partial=True)
    decoded = decode(received([orjson.dumps(rejection.to_record(65_536))], "r"), KINDS)
    assert [g.lines for g in decoded.groups] == [[rejection_line(rejection)]]


def test_unreadable_records_are_counted_and_the_batch_goes_on() -> None:
    good = next(points_records([encode_upload(uploads()[0])]))
    broken_upload = (b'{"schema":"wearmon.points/1","pipeline":null,"uploads":'
                     b'[{"patient_id":"p-9","upload_id":"u-9","values":"x"}]}')
    decoded = decode([*received([None, b"\xff\xfe", b"[]", good, broken_upload]),
                      *received([None, b"{}"], "a")], KINDS)
    assert len(decoded.groups) == 1 and decoded.groups[0].lines
    assert decoded.unreadable == {"points": 3, "alerts": 2}
    reasons = [(r.reason, r.patient_id) for r in decoded.dead_letters]
    assert reasons == [("unreadable_points", None), ("unreadable_points", None),
                       ("unreadable_points", "p-9")]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=10).map(orjson.dumps)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(KINDS)),
                          st.none() | st.binary(max_size=60) | JSON), max_size=8))
def test_no_record_shape_escapes_the_decoder(records: list[tuple[str, bytes | None]]) -> None:
    decoded = decode([Received(topic, 0, i, 0, value) for i, (topic, value)
                      in enumerate(records)], KINDS)
    assert sum(decoded.unreadable.values()) + len(decoded.groups) >= len(
        [r for r in records if r[1] is None])


@pytest.mark.parametrize("size", [10, 60])
def test_a_record_round_trip_keeps_every_value(size: int) -> None:
    for result in [r for batch in processed(size, 5)[:2] for r in batch]:
        points = UploadPoints.observed(result)
        again = UploadPoints.from_json(orjson.loads(encode_upload(points)))
        assert batch_lines([again]) == batch_lines([points])
