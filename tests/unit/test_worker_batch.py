"""The worker's batch without Faust: ``process_batch`` (pure), the page and ``make_durable``
(the durable order)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Iterable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wearmon.stream.alerts.state import PatientAlerts
from wearmon.stream.core.pipeline import PatientState
from wearmon.stream.sinks.lines import batch_lines, rejection_line
from wearmon.stream.sinks.records import PipelineHealth
from wearmon.stream.worker.paging import PageTopics, page
from wearmon.stream.worker.patient_store import PatientStore
from wearmon.stream.worker.telemetry.batch import BatchOutput, Incoming
from wearmon.stream.worker.telemetry.durable import DurableTopics, make_durable
from wearmon.stream.worker.telemetry.process import BatchRules
from wearmon.stream.worker.telemetry.process import process_batch as process

T0_MS = 1_800_000_000_000
RULES = BatchRules(max_lateness_ms=3_600_000)  # a one-hour lateness bound


def process_batch(messages: list[Incoming], store: PatientStore, now_ms: int) -> BatchOutput:
    return process(messages, store, RULES, now_ms)


def lines_of(out: BatchOutput) -> list[str]:
    """The batch's points as the sink will write them."""
    uploads = [line for group in batch_lines([u for _, u in out.uploads]) for line in group]
    return uploads + [rejection_line(r) for r in out.rejections]


def upload(upload_id: str, patient: str, t_ms: int, hr_bpm: float) -> bytes:
    return orjson.dumps({
        "schema_version": 1, "upload_id": upload_id, "device_id": "d1", "patient_id": patient,
        "uploaded_at_ms": t_ms, "samples": [{"t_ms": t_ms - 10_000 * i, "hr_bpm": hr_bpm,
                                             "steps": 0} for i in range(5)]})


def messages() -> list[Incoming]:
    return [
        Incoming(upload("u1", "p-0001", T0_MS, 70), T0_MS, 0, 0),
        Incoming(upload("u2", "p-0002", T0_MS, 160), T0_MS, 1, 0),  # tachycardia at rest
        Incoming(b"{not json", T0_MS, 0, 1),
        Incoming(upload("u1", "p-0001", T0_MS, 70), T0_MS, 0, 2),  # re-sent
    ]


def test_process_batch_collects_everything_a_batch_causes() -> None:
    context = PatientStore.in_memory()
    out = process_batch(messages(), context, now_ms=T0_MS + 500)
    assert out.counts["uploads"] == 2 and out.counts["samples"] == 10
    assert out.counts["rejected"] == 1 and out.counts["duplicates"] == 1
    assert [r.reason for r in out.rejections] == ["not_json", "duplicate_upload"]
    assert {a["patient_id"] for a in out.page.anomalies} == {"p-0002"}
    assert out.patients == {"p-0001", "p-0002"}
    assert sum(line.startswith("vitals,") for line in lines_of(out)) == 10
    assert sum(line.startswith("rejected,") for line in lines_of(out)) == 2
    assert out.e2e_latency_ms == 500
    # nothing is saved by processing: the tables are written only by commit
    assert context.patients.table == {} and context.alerts.table == {}


class Recorder:
    """Fake sinks and stores that record the order of effects (and can fail on demand)."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[str] = []
        self.fail = fail

    def topic(self, name: str) -> Any:
        recorder = self

        class Topic:
            async def send(self, *, key: bytes | None, value: bytes,
                           partition: int | None = None) -> Awaitable[Any]:
                recorder.calls.append(f"send {name}")
                future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                if recorder.fail == name:
                    recorder.fail = ""  # the first record of that topic is refused
                    future.set_exception(ConnectionError("broker refused"))
                else:
                    future.set_result(None)
                return future

        return Topic()

    def saved(self, name: str, patient_ids: Iterable[str]) -> Any:
        recorder = self

        class Saved:
            def store(self) -> None:
                recorder.calls.append(f"save {name} {sorted(patient_ids)}")

        return Saved()

    def durable_topics(self) -> DurableTopics:
        return DurableTopics(self.topic("points"), self.topic("rejected"),
                             dead_letter_max_bytes=1024)

    def page_topics(self) -> PageTopics:
        return PageTopics(alerts=self.topic("alerts"), anomalies=self.topic("anomalies"))


def output() -> BatchOutput:
    return process_batch(messages(), PatientStore.in_memory(), now_ms=T0_MS)


async def test_durable_publishes_the_points_and_dead_letters_then_saves() -> None:
    rec = Recorder()
    out = output()
    await make_durable(out, rec.durable_topics(), rec.saved("patients", out.patients),
                       PipelineHealth("w", T0_MS, {"uploads": 2.0}))
    assert len(out.rejections) == 2 and out.page.anomalies  # they went out when paging
    # one points record per telemetry partition (p-0001 came on 0, p-0002 on 1)
    assert rec.calls == ["send points", "send points", "send rejected", "send rejected",
                         "save patients ['p-0001', 'p-0002']"]


def alert_output() -> BatchOutput:
    """Two minutes of tachycardia at rest: an alert opens."""
    t_ms = T0_MS + 60_000
    out = process_batch([Incoming(upload("a1", "p-0003", T0_MS, 160), T0_MS, 0, 0),
                         Incoming(upload("a2", "p-0003", t_ms, 160), t_ms, 0, 1)],
                        PatientStore.in_memory(), now_ms=t_ms + 500)
    assert [e.action.value for e in out.page.alert_events] == ["opened"]
    return out


async def test_paging_publishes_the_alert_events_and_anomalies_then_saves_the_alert_state(
        ) -> None:
    rec = Recorder()
    out = alert_output()
    await page(out.page, rec.page_topics(), rec.saved("alerts", out.page.alert_patients))
    anomalies = ["send anomalies"] * len(out.page.anomalies)
    assert anomalies
    assert rec.calls == ["send alerts", *anomalies, "save alerts ['p-0003']"]


@pytest.mark.parametrize("fail", ["points", "rejected"])
async def test_state_is_saved_only_after_the_publishes_were_acknowledged(fail: str) -> None:
    rec = Recorder(fail=fail)
    out = output()
    with pytest.raises(ConnectionError):
        await make_durable(out, rec.durable_topics(), rec.saved("patients", out.patients))
    assert not any(c.startswith("save") for c in rec.calls)


@pytest.mark.parametrize("fail", ["alerts", "anomalies"])
async def test_alert_state_is_saved_only_after_the_events_were_acknowledged(fail: str) -> None:
    rec = Recorder(fail=fail)
    out = alert_output()
    with pytest.raises(ConnectionError):
        await page(out.page, rec.page_topics(), rec.saved("alerts", out.page.alert_patients))
    assert not any(c.startswith("save") for c in rec.calls)


class Exploding(PatientStore):
    """A context whose state store fails for one patient (e.g. a bug in a detector)."""

    def patient_state(self, patient_id: str) -> PatientState:
        state = super().patient_state(patient_id)
        if patient_id == "p-0002":
            raise RecursionError("boom")
        return state


def test_an_error_in_one_message_is_dead_lettered_and_the_batch_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    context = Exploding.in_memory()
    with caplog.at_level(logging.ERROR):
        out = process_batch(messages(), context, now_ms=T0_MS)
    # logged for the operators (type and code location), never the exception's text
    assert "internal error" in caplog.text and "RecursionError" in caplog.text
    assert "boom" not in caplog.text and "p-0002" not in caplog.text
    internal = [r for r in out.rejections if r.reason == "internal_error"]
    assert len(internal) == 1 and internal[0].original == messages()[1].value
    assert "RecursionError" in internal[0].issues[0].detail and "boom" not in \
        internal[0].issues[0].detail
    assert out.counts["uploads"] == 1 and "p-0002" not in out.patients
    assert not any(a["patient_id"] == "p-0002" for a in out.page.anomalies)


class FailingPolicy(PatientStore):
    """A context whose alert state fails for one patient, after its upload was processed."""

    def patient_alerts(self, patient_id: str, now_ms: int) -> PatientAlerts:
        if patient_id == "p-0002":
            raise KeyError("boom")
        return super().patient_alerts(patient_id, now_ms)


def test_an_error_after_processing_is_contained_to_its_message() -> None:
    out = process_batch(messages(), FailingPolicy.in_memory(), now_ms=T0_MS)
    internal = [r for r in out.rejections if r.reason == "internal_error"]
    assert [r.original for r in internal] == [messages()[1].value]
    assert out.counts["uploads"] == 1 and out.patients == {"p-0001"}
    assert not any(a["patient_id"] == "p-0002" for a in out.page.anomalies)
    stored = [line for line in lines_of(out) if not line.startswith("rejected,")]
    assert any("patient=p-0001" in line for line in stored)
    assert not any("patient=p-0002" in line for line in stored)
    # validation's refusals first, then the processed uploads' in message order
    assert [r.reason for r in out.rejections] == ["not_json", "internal_error",
                                                  "duplicate_upload"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
SAMPLE = st.dictionaries(st.sampled_from(["t_ms", "hr_bpm", "steps", "spo2_pct", "rr_ms",
                                          "skin_temp_c", "x\u0000", "\ud800"]), JSON,
                         max_size=5)


def structured(doc: dict[str, object]) -> bytes:
    return json.dumps(doc, default=str).encode("utf-8", "surrogatepass")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.binary(max_size=300),
    JSON.map(lambda doc: json.dumps(doc, default=str).encode()),
    st.builds(lambda pid, samples, extra: structured({
        "schema_version": 1, "upload_id": "u9", "device_id": "d1", "patient_id": pid,
        "uploaded_at_ms": T0_MS, "samples": samples, **extra}),
        st.sampled_from(["p-0003", "p-0003\n", "\ud800-x"]) | st.text(max_size=10),
        st.lists(SAMPLE, max_size=6) | JSON, st.dictionaries(st.text(max_size=5), JSON,
                                                             max_size=2)),
    st.sampled_from([upload("u9", "p-0003", T0_MS, 80)]).flatmap(
        lambda raw: st.integers(0, len(raw) - 1).flatmap(
            lambda i: st.binary(min_size=1, max_size=3).map(
                lambda b: raw[:i] + b + raw[i + len(b):]))),
), max_size=6))
def test_no_input_escapes_the_batch_function(raws: list[bytes]) -> None:
    """Random and mutated uploads: every message ends processed or dead-lettered."""
    out = process_batch([Incoming(raw, T0_MS, 0, i) for i, raw in enumerate(raws)],
                        PatientStore.in_memory(), now_ms=T0_MS)
    assert out.counts["uploads"] + out.counts["rejected"] + out.counts["duplicates"] >= len(raws)
    "\n".join(lines_of(out)).encode()  # every line can be written
    # and no message needed the safety net: validation named the problem of each
    assert [r.issues[0].detail for r in out.rejections if r.reason == "internal_error"] == []
