"""The running worker applies the alert policy: alert points in InfluxDB and the alerts topic."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import influx_query
from tests.integration.conftest import EPISODE_PATIENT, PipelineRun, consume, settings_of
from tests.integration.test_pipeline import DETECTED_KINDS

pytestmark = pytest.mark.integration


def test_each_injected_clinical_event_opens_an_alert(pipeline_run: PipelineRun) -> None:
    labels = pipeline_run.clinical_labels
    assert labels, "the simulation must inject clinical events"
    # the history agents write these points from the alerts topic, after the telemetry that
    # caused them has been processed: wait for them (with a deadline), then check
    deadline = time.monotonic() + 60
    while True:
        series = influx_query(
            pipeline_run.influx_url,
            pipeline_run.influx_db,
            "SELECT alert_id, title, code FROM alert WHERE \"action\" = 'opened' "
            "AND \"category\" = 'clinical' GROUP BY patient, kind",
        )
        opened = {(s["tags"]["patient"], s["tags"]["kind"]) for s in series}  # type: ignore[index]
        missed = [
            lab
            for lab in labels
            if not any((lab.patient_id, kind) in opened for kind in DETECTED_KINDS[lab.kind])
        ]
        if not missed or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # polling InfluxDB (another process): no event to await
    assert not missed, (missed, opened)
    for s in series:
        for _, alert_id, title, code in s["values"]:  # type: ignore[union-attr]
            assert alert_id and code == 2
            assert title and not any(ch.isdigit() for ch in title)  # no vitals in the title


def test_alert_events_are_published(pipeline_run: PipelineRun) -> None:
    settings = settings_of(pipeline_run.worker)
    records = asyncio.run(consume(settings, settings.topics.alerts, 1))
    assert records
    patients = {*pipeline_run.patients, EPISODE_PATIENT}  # plus the crafted open episode
    for record in records:
        assert record["patient"] in patients
        assert {"alert_id", "kind", "state", "action", "step", "severity"} <= set(record)
