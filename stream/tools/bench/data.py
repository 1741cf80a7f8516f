"""The bench's uploads (pure): simulated patients at a fixed upload size, critical probes whose
samples end at the wall clock, small warm-up uploads, and the paced schedule of the latency run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson

from wearmon.stream.core.schema import SCHEMA_VERSION
from wearmon.stream.datasets.simulator import SAMPLE_MS, Simulator

HOUR_MS = 3_600_000
#: Heart rate of a probe's samples: at or below the low limit (40 bpm) minus 5, bradycardia is
#: critical, and a critical value is reported at the sample where it occurs (models/bands.py).
CRITICAL_HR_BPM = 30.0

Message = tuple[bytes, bytes]  # (key, value) of the telemetry topic


def sample_count(value: bytes) -> int:
    """Samples in one upload (each has a ``t_ms``; the upload's own time is ``uploaded_at_ms``).

    >>> sample_count(probe_upload("probe-1-000001", 3, 1_000_000)[1])
    3
    """
    return value.count(b'"t_ms"')


@dataclass(frozen=True, slots=True)
class Uploads:
    """Telemetry messages in event-time order, and how many samples they hold."""

    messages: list[Message]
    samples: int
    patients: int

    @property
    def count(self) -> int:
        return len(self.messages)


def of_messages(messages: list[Message], patients: int) -> Uploads:
    return Uploads(messages, sum(sample_count(value) for _, value in messages), patients)


def simulated(patients: int, hours: float, samples_per_upload: int, end_ms: int,
              seed: int) -> Uploads:
    """``hours`` of seeded simulated patients up to ``end_ms``, ``samples_per_upload`` a time."""
    sim = Simulator(patients, end_ms - int(hours * HOUR_MS), hours * 3600, seed=seed,
                    samples_per_upload=samples_per_upload)
    return of_messages([(key, value) for key, value, _ in sim.uploads_until(end_ms)], patients)


def upload(patient_id: str, upload_id: str, t_ms: list[int], hr_bpm: float) -> bytes:
    doc = {"schema_version": SCHEMA_VERSION, "upload_id": upload_id,
           "device_id": f"dev-{patient_id}", "patient_id": patient_id,
           "uploaded_at_ms": t_ms[-1], "battery_pct": 80.0,
           "samples": [{"t_ms": t, "hr_bpm": hr_bpm, "steps": 0} for t in t_ms]}
    return orjson.dumps(doc)


def probe_upload(patient_id: str, samples: int, end_ms: int) -> Message:
    """A critical upload: ``samples`` heart rates of 30 bpm, 5 s apart, the last at ``end_ms``.

    >>> import orjson
    >>> doc = orjson.loads(probe_upload("probe-10-000001", 2, 1_000_000)[1])
    >>> [s["t_ms"] for s in doc["samples"]], doc["samples"][0]["hr_bpm"]
    ([995000, 1000000], 30.0)
    """
    times = [end_ms - (samples - 1 - i) * SAMPLE_MS for i in range(samples)]
    return patient_id.encode(), upload(patient_id, "probe-1", times, CRITICAL_HR_BPM)


def warm_up_upload(patient_id: str, seq: int, now_ms: int) -> bytes:
    """One ordinary sample, to make a worker handle something (group joined, code warm)."""
    return upload(patient_id, f"warm-{seq}", [now_ms - 1000], 65.0)


def probe_patient(samples_per_upload: int, index: int) -> str:
    return f"probe-{samples_per_upload}-{index:06d}"


@dataclass(frozen=True, slots=True)
class Slot:
    """One message of the paced run: due ``due_s`` after the start; a probe when ``message`` is
    None (it is made when sent, so that its samples end at the wall clock)."""

    due_s: float
    message: Message | None
    samples: int


def schedule(background: Iterable[Message], samples_per_upload: int, rate: float,
             duration_s: float, probe_every: int) -> Iterator[Slot]:
    """Background uploads with a probe as every ``probe_every``-th message, each due when the
    samples before it, sent at ``rate`` samples/s, have taken their time; ``duration_s`` long.

    >>> bg = [(b"k", b'{"samples":[{"t_ms":1},{"t_ms":2}]}')] * 10
    >>> [(s.due_s, s.message is None) for s in schedule(bg, 2, 4.0, 2.0, 3)]
    [(0.0, False), (0.5, False), (1.0, True), (1.5, False)]
    """
    sent = 0
    messages = iter(background)
    index = 0
    while (due_s := sent / rate) < duration_s:
        index += 1
        if index % probe_every == 0:
            yield Slot(due_s, None, samples_per_upload)
            sent += samples_per_upload
            continue
        message = next(messages, None)
        if message is None:
            return
        samples = sample_count(message[1])
        yield Slot(due_s, message, samples)
        sent += samples


def background_hours(rate: float, duration_s: float, patients: int) -> float:
    """Event hours of ``patients`` simulated patients that hold ``rate`` × ``duration_s`` samples
    (a sample every 5 s each), with a margin for the hours a device is offline.

    >>> background_hours(144.0, 10.0, 2)  # 1,440 samples: an hour of 2 patients
    1.4
    """
    samples_per_hour = patients * HOUR_MS / SAMPLE_MS
    return round(1.3 * rate * duration_s / samples_per_hour + 0.1, 3)
