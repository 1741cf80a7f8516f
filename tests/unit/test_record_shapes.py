"""Every record shape on every topic a Wearmon process reads (issue 23): a tombstone, an empty or
missing key, bytes that are not UTF-8, JSON of another topic's schema, this topic's schema with
a field of the wrong type, a huge value. Each topic's per-record function (the one its agent or
reader calls) returns what it read, or refuses the record naming the field and the reason; the
dead letter built from a refusal never fails; nothing raises.
"""

from __future__ import annotations

import types
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_care_messages import OPENED, SETTINGS
from tests.unit.test_lines_batch import processed
from tests.unit.test_patients import doc as patient_doc
from tests.unit.test_worker_batch import T0_MS, process_batch
from tests.unit.test_worker_batch import upload as telemetry_upload
from wearmon.stream.alerts.board import AlertBoard
from wearmon.stream.alerts.command import (
    act_command,
    parse_command,
    read_reply,
    reply,
    tick_command,
)
from wearmon.stream.alerts.lifecycle import AlertEvent
from wearmon.stream.config import Settings
from wearmon.stream.console.watch import MonitoringRecords
from wearmon.stream.core.issues import Issue
from wearmon.stream.core.records import Unreadable, conforms, field_types, read_json
from wearmon.stream.core.validation import Rejection
from wearmon.stream.export.plan import ALERTS, DELIVERIES
from wearmon.stream.export.plan import plan as export_plan
from wearmon.stream.gateway.tokens import Registry, issue
from wearmon.stream.notify.deliver import DeliveryResult, DeliveryStatus
from wearmon.stream.notify.outbox import Audience, OutboxRecord
from wearmon.stream.notify.outbox import plan as plan_outbox
from wearmon.stream.sinks.decode import Received, decode
from wearmon.stream.sinks.lines import alert_event_lines, notification_line, rejection_line
from wearmon.stream.sinks.records import UploadPoints, encode_upload, points_records
from wearmon.stream.tools.demo_view import DemoView
from wearmon.stream.tools.demo_view import show as demo_show
from wearmon.stream.views.alerts_feed import AlertsFeed
from wearmon.stream.views.patients import PatientsView
from wearmon.stream.worker.care.commands import apply_command
from wearmon.stream.worker.dead_letters import unreadable_letter
from wearmon.stream.worker.patient_store import PatientStore
from wearmon.stream.worker.telemetry.agent import incoming

NOW_MS = T0_MS + 60_000
RESULT = DeliveryResult("p-0001:bradycardia:0|nurse|0", "p-0001:bradycardia:0", "p-0001",
                        "nurse", Audience.CARE_TEAM, 0, DeliveryStatus.SENT, 1, NOW_MS, 5)
_, GRANT = issue("watch-1", "p-0001", now_ms=1)
UPLOADS = [UploadPoints.observed(r) for r in processed(10, 1)[0]]


def topic_docs() -> dict[str, dict[str, Any]]:
    """One genuine record of each topic, as JSON."""
    return {
        "telemetry": orjson.loads(telemetry_upload("u1", "p-0001", T0_MS, 80)),
        "patients": patient_doc(),
        "alert_commands": act_command("p-0001", OPENED.alert_id, "ack", "nurse.jo",
                                      now_ms=NOW_MS),
        "tick": tick_command("p-0001", now_ms=NOW_MS),
        "alerts": OPENED.to_json(),
        "outbox": plan_outbox(OPENED, SETTINGS, NOW_MS)[0].to_json(),
        "deliveries": RESULT.to_json(),
        "alert_replies": reply("c1", "p-0001", 200, events=1),
        "monitoring": {"ward": "A", "state": "delayed", "since_ms": T0_MS, "until_ms": None,
                       "at_ms": NOW_MS, "sent": ["k1"]},
        "devices": orjson.loads(GRANT.to_bytes()),
        "points": orjson.loads(next(iter(points_records([encode_upload(u) for u in UPLOADS],
                                                        None)))),
        "rejected": Rejection((Issue("$", "empty", "no upload"),), b"x", NOW_MS).to_record(10),
    }


DOCS = topic_docs()
JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers(-2**63, 2**63 - 1)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=10)


def with_wrong_field(doc: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """``doc`` with one field dropped, or set to a random JSON value."""
    name = draw(st.sampled_from(sorted(doc)))
    if draw(st.booleans()):
        return {k: v for k, v in doc.items() if k != name}
    return {**doc, name: draw(JSON)}


@st.composite
def values(draw: st.DrawFn) -> bytes | None:
    """Any value a producer can write on any topic."""
    doc = draw(st.sampled_from(sorted(DOCS)).map(DOCS.__getitem__))
    return draw(st.one_of(
        st.none(), st.just(b""), st.binary(max_size=40),
        st.binary(max_size=20).map(lambda b: b"\xff\xfe" + b),  # not UTF-8
        JSON.map(orjson.dumps),
        st.just(orjson.dumps(doc)),  # another topic's schema (or this one's)
        st.just(orjson.dumps(with_wrong_field(doc, draw))),
        st.just(orjson.dumps({**doc, "huge": "x" * 2_000_000})),
        st.just(b"[" * 5_000),  # too deep for any JSON parser
    ))


KEYS = st.none() | st.just(b"") | st.binary(max_size=12) | st.text(max_size=8).map(str.encode)
RECORDS = st.lists(st.tuples(KEYS, values()), min_size=1, max_size=5)
SHAPES = settings(max_examples=120, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def refused(error: Unreadable, raw: bytes | None, what: str) -> None:
    """A refusal names a field and a reason, and its dead letter can be written."""
    assert error.field and error.reason
    letter = unreadable_letter(what, error, raw, NOW_MS)
    record = orjson.loads(orjson.dumps(letter.to_record(1_000)))
    assert (record["field"], record["reason"]) == (error.field, error.reason)
    rejection_line(letter).encode()


def assert_typed(record: object) -> None:
    for name, kind in field_types(type(record)).items():
        assert conforms(getattr(record, name), kind), name


@SHAPES
@given(RECORDS)
def test_telemetry_every_record_is_processed_or_dead_lettered(
        records: list[tuple[bytes | None, bytes | None]]) -> None:
    events = [types.SimpleNamespace(value=value, key=key, message=types.SimpleNamespace(
        timestamp=NOW_MS / 1000, partition=0, offset=i)) for i, (key, value) in enumerate(records)]
    out = process_batch([incoming(e, NOW_MS) for e in events],  # type: ignore[arg-type]
                        PatientStore.in_memory(), NOW_MS)
    assert out.counts["uploads"] + out.counts["rejected"] + out.counts["duplicates"] >= len(events)
    for rejection in out.rejections:
        assert rejection.field and rejection.reason
        orjson.dumps(rejection.to_record(1_000))
        rejection_line(rejection).encode()


@SHAPES
@given(RECORDS)
def test_alert_commands_are_applied_or_dead_lettered(
        records: list[tuple[bytes | None, bytes | None]]) -> None:
    store = PatientStore.in_memory()
    for _, value in records:
        try:
            doc = parse_command(value)
        except Unreadable as error:
            refused(error, value, "alert_command")
            continue
        answer, _ = apply_command(store, doc, NOW_MS)
        orjson.dumps(answer)


@SHAPES
@given(RECORDS)
def test_alert_events_are_planned_drawn_and_written_or_dead_lettered(
        records: list[tuple[bytes | None, bytes | None]]) -> None:
    board = AlertBoard()
    for _, value in records:
        try:
            event = read_json(value, AlertEvent.from_json)
        except Unreadable as error:
            refused(error, value, "alert_event")
            continue
        assert_typed(event)
        event.patient.encode()
        plan_outbox(event, SETTINGS.model_copy(update={"patient_id": event.patient}), NOW_MS)
        board.apply_event(event)
        "\n".join(alert_event_lines(event)).encode()
    board.open_cards()


@SHAPES
@given(RECORDS)
def test_outbox_records_and_delivery_results_are_read_or_dead_lettered(
        records: list[tuple[bytes | None, bytes | None]]) -> None:
    board = AlertBoard()
    for _, value in records:
        for read, what in [(OutboxRecord.from_json, "outbox_record"),
                           (DeliveryResult.from_json, "delivery_result")]:
            try:
                record = read_json(value, read)  # type: ignore[arg-type]
            except Unreadable as error:
                refused(error, value, what)
                continue
            assert_typed(record)
            record.patient.encode()
            if isinstance(record, DeliveryResult):
                board.apply_delivery(record.to_json())
                notification_line(record).encode()


@SHAPES
@given(RECORDS)
def test_replies_are_read_or_refused(records: list[tuple[bytes | None, bytes | None]]) -> None:
    board = AlertBoard()
    for _, value in records:
        try:
            doc = read_reply(value)
        except Unreadable as error:
            refused(error, value, "alert_reply")
            continue
        board.apply_reply(doc)
        board.answer(doc["id"])


@SHAPES
@given(RECORDS)
def test_followed_views_apply_or_count_every_record(
        records: list[tuple[bytes | None, bytes | None]]) -> None:
    """The console's and gateway's readers of patients, monitoring, alerts, deliveries, replies
    and devices, and the demo's of anomalies, dead letters and alerts: each record is applied,
    or skipped and counted; nothing raises."""
    config = Settings()
    patients, monitoring = PatientsView(config), MonitoringRecords(config)
    feed, devices = AlertsFeed(config, send=lambda command: None), Registry()  # type: ignore[arg-type]
    topics, demo = config.topics, DemoView()
    for key, value in records:
        patients.apply(key, value)
        monitoring.apply(topics.monitoring, key, value)
        for topic in (topics.alerts, topics.deliveries, topics.alert_replies):
            feed.follower.apply(topic, key, value)
        devices.apply(key, value)
        for topic in (topics.anomalies, topics.rejected, topics.alerts):
            demo_show(demo, config, topic, value)
    monitoring.open_delays()
    feed.board.open_cards()
    empty = sum(1 for _, value in records if not value)
    no_key = sum(1 for key, _ in records if not key or not valid_utf8(key))
    assert patients.skipped >= no_key and monitoring.skipped >= empty
    assert feed.skipped >= 3 * empty and demo.unreadable >= 3 * empty


def valid_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


@SHAPES
@given(st.lists(st.tuples(st.sampled_from(["p", "r", "a", "d"]), values()), min_size=1,
                max_size=5))
def test_sink_and_exporter_write_or_dead_letter_every_record(
        records: list[tuple[str, bytes | None]]) -> None:
    kinds = {"p": "points", "r": "rejected", "a": "alerts", "d": "deliveries"}
    received = [Received(topic, 0, i, NOW_MS, value) for i, (topic, value) in enumerate(records)]
    decoded = decode(received, kinds)
    for letter in decoded.dead_letters:
        orjson.dumps(letter.to_record(1_000))
    for group in decoded.groups:
        "\n".join(group.lines).encode()
    exported = export_plan([r for r in received if r.topic in "ad"],
                           {"a": ALERTS, "d": DELIVERIES})
    for letter in exported.dead_letters:
        orjson.dumps(letter.to_record(1_000))


ORIGINALS = st.none() | st.binary(max_size=30) | st.text(max_size=10) | st.just(b"\xff" * 3)
TEXT = st.text(max_size=10) | st.sampled_from(["\ud800", "a\udfffb", ""])


@given(st.lists(st.builds(Issue, TEXT, TEXT, TEXT), max_size=3), ORIGINALS,
       st.none() | TEXT, st.none() | TEXT, st.booleans())
def test_the_dead_letter_builder_takes_every_shape(
        issues: list[Issue], original: Any, patient_id: str | None, upload_id: str | None,
        partial: bool) -> None:
    rejection = Rejection(tuple(issues), original, NOW_MS, patient_id, upload_id, partial)
    record = orjson.loads(orjson.dumps(rejection.to_record(8)))
    assert record["issue_count"] == len(issues) and len(record["issues"]) == len(issues)
    rejection_line(rejection).encode()


def test_a_tombstone_is_refused_as_empty_on_every_worker_topic() -> None:
    for read in (parse_command, read_reply, lambda raw: read_json(raw, AlertEvent.from_json),
                 lambda raw: read_json(raw, OutboxRecord.from_json)):
        for raw in (None, b""):
            try:
                read(raw)
            except Unreadable as error:
                assert (error.field, error.reason) == ("$", "empty")
            else:
                raise AssertionError("a tombstone was read")


def test_a_field_of_the_wrong_type_is_named() -> None:
    wrong = orjson.dumps({**OPENED.to_json(), "patient": 5})
    try:
        read_json(wrong, AlertEvent.from_json)
    except Unreadable as error:
        assert (error.field, error.reason) == ("patient", "wrong_type")
    else:
        raise AssertionError("a patient id of 5 was read")
