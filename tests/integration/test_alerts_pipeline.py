"""The running worker applies the alert policy: alert points in InfluxDB and the alerts topic."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import influx_query
from tests.integration.conftest import EPISODE_PATIENT, PipelineRun, consume, settings_of
from tests.integration.test_pipeline import DETECTED_KINDS
from tests.waiting import wait_until
from wearmon.stream.datasets.simulator import Label

pytestmark = pytest.mark.integration


def test_each_injected_clinical_event_opens_an_alert(pipeline_run: PipelineRun) -> None:
    labels = pipeline_run.clinical_labels
    assert labels, "the simulation must inject clinical events"
    # the history agents write these points from the alerts topic, after the telemetry that
    # caused them has been processed: wait for them, then check

    def missed_and_opened() -> tuple[list[Label], list[dict[str, object]]]:
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
        return missed, series

    _, series = wait_until(missed_and_opened, "an opened alert for each injected clinical event",
                           60, until=lambda answer: not answer[0], interval_s=0.5)
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
