"""A dataset as contract-v1 uploads, the way phone gateways would send it (pure).

API::

    build_uploads(patient, samples, *, device_id, shift_ms=0, upload_every_ms=900_000,
                  max_samples=1_000) -> Iterator[dict]          # one patient
    merge_by_time(streams) -> Iterator[dict]                     # all patients
    encode(upload) -> bytes                                      # orjson
    rebase_shift_ms(last_t_ms, now_ms) -> int
    sample_json(sample) -> dict                                  # absent values left out
    DEVICE_KIND[dataset] -> "fitbit" | "actigraph" | "holter"    # device ids ``<patient>-<kind>``

How an upload is formed: one device per patient sends the samples of each ``upload_every``
window of event time (windows aligned to multiples of it, at most ``max_samples`` samples each).
``uploaded_at_ms`` is the upload's last sample time and ``upload_id`` is
``<patient>-<first t_ms>``, so the same run builds the same ids.

Rebasing: all times move by one constant per run, a whole number of days, so that the newest
sample of the replayed data lands in the 24 hours up to now: nothing is in the future and every
sample keeps its hour of day (the datasets' local times are read as UTC, and detectors use the
hour). Runs started within the same day therefore send identical uploads (idempotent re-runs).

Patients are interleaved in event-time order (a heap merge on ``uploaded_at_ms``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from wearmon.stream.core.schema import SCHEMA_VERSION, VALUE_FIELDS, Sample
from wearmon.stream.datasets.series import DAY_MS

DEFAULT_UPLOAD_EVERY_S = 900
DEFAULT_MAX_SAMPLES = 1_000
DEVICE_KIND = {"stanford": "fitbit", "mmash": "actigraph", "fitabase": "fitbit", "afdb": "holter",
               "nsr": "holter"}

Upload = dict[str, Any]


def sample_json(sample: Sample) -> dict[str, Any]:
    """A sample as contract-v1 JSON: absent values are left out.

    >>> sample_json(Sample(t_ms=5, hr_bpm=61.0))
    {'t_ms': 5, 'hr_bpm': 61.0}
    """
    doc: dict[str, Any] = {"t_ms": sample.t_ms}
    for name in VALUE_FIELDS:
        value = getattr(sample, name)
        if value is not None:
            doc[name] = value
    if sample.rr_ms:
        doc["rr_ms"] = sample.rr_ms
    return doc


def build_uploads(
    patient: str,
    samples: Iterable[Sample],
    *,
    device_id: str,
    shift_ms: int = 0,
    upload_every_ms: int = DEFAULT_UPLOAD_EVERY_S * 1000,
    max_samples: int = DEFAULT_MAX_SAMPLES,
) -> Iterator[Upload]:
    """Group one patient's time-ordered samples into uploads, times shifted by ``shift_ms``.

    >>> samples = [Sample(t_ms=t, hr_bpm=60.0) for t in (0, 1, 300_000)]
    >>> ups = build_uploads("p-0001", samples, device_id="d1", shift_ms=1_000,
    ...                     upload_every_ms=300_000)
    >>> [(u["upload_id"], len(u["samples"]), u["uploaded_at_ms"]) for u in ups]
    [('p-0001-1000', 2, 1001), ('p-0001-301000', 1, 301000)]
    """
    if upload_every_ms <= 0 or max_samples <= 0:
        raise ValueError("upload_every_ms and max_samples must be positive")
    batch: list[dict[str, Any]] = []
    window: int | None = None
    for sample in samples:
        doc = sample_json(sample)
        doc["t_ms"] += shift_ms
        sample_window = doc["t_ms"] // upload_every_ms
        if batch and (sample_window != window or len(batch) >= max_samples):
            yield _upload(patient, device_id, batch)
            batch = []
        window = sample_window
        batch.append(doc)
    if batch:
        yield _upload(patient, device_id, batch)


def _upload(patient: str, device_id: str, samples: list[dict[str, Any]]) -> Upload:
    return {
        "schema_version": SCHEMA_VERSION,
        "upload_id": f"{patient}-{samples[0]['t_ms']}",
        "device_id": device_id,
        "patient_id": patient,
        "uploaded_at_ms": samples[-1]["t_ms"],
        "samples": samples,
    }


def merge_by_time(streams: Iterable[Iterator[Upload]]) -> Iterator[Upload]:
    """Interleave per-patient upload streams in event-time order (each stream is in order)."""
    return heapq.merge(*streams, key=lambda u: (u["uploaded_at_ms"], u["patient_id"]))


def encode(upload: Upload) -> bytes:
    return orjson.dumps(upload)


def rebase_shift_ms(last_t_ms: int, now_ms: int) -> int:
    """Whole days to add so that ``last_t_ms`` lands in ``(now_ms - 1 day, now_ms]``.

    >>> rebase_shift_ms(last_t_ms=1_000, now_ms=3 * 86_400_000 + 500)
    172800000
    """
    return (now_ms - last_t_ms) // DAY_MS * DAY_MS
