"""Real data end to end: MMASH replayed into the broker, processed by a real worker, in InfluxDB."""

from __future__ import annotations

import asyncio
from collections import Counter

import numpy as np
import orjson
import pytest

from tests.conftest import influx_query
from tests.integration.conftest import consume, settings_of
from tests.unit.datadir import DATA_DIR, require
from wearmon.stream.core.validation import Limits, Rejection, validate
from wearmon.stream.tools.dataset_replay import replay

pytestmark = [pytest.mark.integration, pytest.mark.data, pytest.mark.slow]


def test_replayed_real_data_is_stored_with_artefacts_dead_lettered(make_worker) -> None:  # type: ignore[no-untyped-def]
    require(DATA_DIR)
    worker = make_worker()
    settings = settings_of(worker)
    stats = asyncio.run(replay(settings, "mmash", DATA_DIR, speed=0, max_patients=2,
                               max_days=0.1, show_progress=False))
    assert stats.uploads > 0 and stats.samples > 5000
    sent = asyncio.run(consume(settings, settings.topics.telemetry, stats.uploads))
    assert len(sent) == stats.uploads

    expected_hr: Counter[str] = Counter()
    partial = 0
    for record in sent:
        checked = validate(orjson.dumps(record), 2**62, Limits())
        assert not isinstance(checked, Rejection)
        partial += bool(checked.issues)
        expected_hr[checked.upload.patient_id] += int(
            (~np.isnan(checked.upload.columns.hr_bpm)).sum())
    worker.start()
    health = worker.wait_processed(stats.uploads)
    assert health["samples"] > 0
    series = influx_query(settings.influx.url, settings.influx.db,
                          "SELECT count(hr_bpm) FROM vitals GROUP BY patient")
    stored = {s["tags"]["patient"]: int(s["values"][0][1]) for s in series}  # type: ignore[index]
    assert stored == dict(expected_hr)
    if partial:  # real artefacts (HR 3 bpm, 240 bpm) are named in the dead-letter topic
        rejected = asyncio.run(consume(settings, settings.topics.rejected, partial))
        assert all(r["partial"] and r["reason"] for r in rejected)
