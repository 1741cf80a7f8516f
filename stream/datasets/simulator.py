"""Seeded synthetic patients with labelled events, as contract-v1 uploads.

Each patient has a personal resting heart rate, a circadian rhythm, sleep, activity bouts that
raise heart rate with steps (and a recovery afterwards), periodic SpO2 readings, a draining
battery, and uploads batched by a phone gateway. Injected events carry ground-truth labels:
``tachycardia_at_rest``, ``bradycardia``, ``desaturation``, ``off_wrist``, ``device_offline``,
``low_battery``.

API: ``Simulator(patients, start_ms, duration_s, seed)``; ``.labels`` (list of ``Label``);
``.uploads_until(t_ms)`` yields ``(key, value_bytes, last_t_ms)`` in event-time order;
``.extend(duration_s)`` continues the same patients further in time (``simulate --forever``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import orjson

from wearmon.stream.core.schema import SCHEMA_VERSION

SAMPLE_MS = 5_000
SPO2_EVERY_MS = 60_000
MINUTE_MS = 60_000
EVENT_KINDS = ("tachycardia_at_rest", "bradycardia", "desaturation", "off_wrist",
               "device_offline", "low_battery")
CLINICAL_KINDS = ("tachycardia_at_rest", "bradycardia", "desaturation")


@dataclass(frozen=True, slots=True)
class Label:
    patient_id: str
    kind: str
    start_ms: int
    end_ms: int


@dataclass(slots=True)
class SimPatient:
    patient_id: str
    device_id: str
    rng: random.Random
    resting_hr_bpm: float
    has_spo2: bool
    upload_every_ms: int
    battery_pct: float
    events: list[Label] = field(default_factory=list)
    bouts: list[tuple[int, int]] = field(default_factory=list)  # activity (start, end) ms
    next_t_ms: int = 0
    last_upload_ms: int = 0
    exertion: float = 0.0  # 0..1, decays after activity
    upload_seq: int = 0

    def event_at(self, t_ms: int) -> str | None:
        for e in self.events:
            if e.start_ms <= t_ms < e.end_ms:
                return e.kind
        return None

    def active_at(self, t_ms: int) -> bool:
        return any(s <= t_ms < e for s, e in self.bouts)

    def sample(self, t_ms: int) -> dict[str, object] | None:
        event = self.event_at(t_ms)
        if event == "device_offline":
            return None
        hour = (t_ms / 3_600_000) % 24
        asleep = hour >= 23 or hour < 7
        active = self.active_at(t_ms) and event not in CLINICAL_KINDS
        self.exertion += (1.0 - self.exertion) * 0.15 if active else -self.exertion * 0.05
        steps = self.rng.randint(7, 11) if active else 0
        circadian = 4.0 * math.cos(2 * math.pi * (hour - 16) / 24)
        hr = (self.resting_hr_bpm + circadian - (7 if asleep else 0) + 45 * self.exertion
              + self.rng.gauss(0, 2.0))
        if event == "tachycardia_at_rest":
            hr = 138 + self.rng.gauss(0, 3)
        elif event == "bradycardia":
            hr = 36 + self.rng.gauss(0, 1.0)
        doc: dict[str, object] = {"t_ms": t_ms, "steps": steps}
        if event != "off_wrist":
            doc["hr_bpm"] = round(hr, 1)
        if self.has_spo2 and t_ms % SPO2_EVERY_MS == 0 and event != "off_wrist":
            spo2 = 85.0 + self.rng.gauss(0, 0.8) if event == "desaturation" else \
                97.0 + self.rng.gauss(0, 0.8)
            doc["spo2_pct"] = round(min(spo2, 100.0), 1)
        return doc


class Simulator:
    """Deterministic for a given seed; ``event_every_s`` sets how often events are injected."""

    def __init__(self, patients: int, start_ms: int, duration_s: float, seed: int = 7,
                 event_every_s: float = 1800.0, kinds: tuple[str, ...] = EVENT_KINDS,
                 samples_per_upload: int | None = None) -> None:
        """``samples_per_upload`` fixes every gateway's batch (default: 30-120 s of samples)."""
        self.start_ms = start_ms - start_ms % SAMPLE_MS
        self.end_ms = self.start_ms + int(duration_s * 1000)
        self.event_every_s = event_every_s
        self.kinds = kinds
        self.patients: list[SimPatient] = []
        for index in range(patients):
            rng = random.Random(seed * 1_000_003 + index)
            patient = SimPatient(
                patient_id=f"sim-{seed:03d}-{index:04d}",
                device_id=f"watch-{seed:03d}-{index:04d}",
                rng=rng,
                resting_hr_bpm=rng.uniform(55, 75),
                has_spo2=index % 4 != 3,
                upload_every_ms=rng.choice((30_000, 60_000, 60_000, 120_000))
                if samples_per_upload is None else samples_per_upload * SAMPLE_MS,
                battery_pct=rng.uniform(40, 100),
                next_t_ms=self.start_ms,
                last_upload_ms=self.start_ms,
            )
            self._schedule(patient, self.start_ms, self.end_ms)
            self.patients.append(patient)

    def inject(self, index: int, kind: str, start_ms: int, length_ms: int) -> Label:
        """Add one labelled event to patient ``index`` (e.g. live events in the demo); activity
        bouts around it are dropped so that it happens at rest."""
        patient = self.patients[index]
        label = Label(patient.patient_id, kind, start_ms, min(start_ms + length_ms, self.end_ms))
        patient.events.append(label)
        patient.bouts = [(s, e) for s, e in patient.bouts
                         if not (label.start_ms - 12 * MINUTE_MS < e and s < label.end_ms)]
        return label

    @property
    def labels(self) -> list[Label]:
        return [e for p in self.patients for e in p.events]

    def extend(self, duration_s: float) -> None:
        """Continue every patient for ``duration_s`` more event time (new events and bouts).

        Events and bouts that are over are forgotten, so memory stays bounded when this runs
        forever (``labels`` then holds only the recent ones).
        """
        from_ms, self.end_ms = self.end_ms, self.end_ms + int(duration_s * 1000)
        for p in self.patients:
            p.events = [e for e in p.events if e.end_ms > p.next_t_ms]
            p.bouts = [(s, e) for s, e in p.bouts if e > p.next_t_ms]
            self._schedule(p, from_ms, self.end_ms)

    def _schedule(self, p: SimPatient, from_ms: int, to_ms: int) -> None:
        """Events first (with 10 quiet minutes before each), then activity bouts around them."""
        every_s = self.event_every_s
        t = from_ms + int(p.rng.uniform(0.1, 0.6) * every_s * 1000)
        allowed = [k for k in self.kinds if p.has_spo2 or k != "desaturation"]
        while allowed and t < to_ms - 5 * MINUTE_MS:
            kind = p.rng.choice(allowed)
            length_ms = int(p.rng.uniform(5, 12) * MINUTE_MS)
            if kind == "device_offline":
                length_ms = int(p.rng.uniform(20, 40) * MINUTE_MS)
            end = min(t + length_ms, to_ms)
            p.events.append(Label(p.patient_id, kind, t, end))
            t = end + int(p.rng.uniform(0.7, 1.3) * every_s * 1000)
        t = from_ms
        while t < to_ms:
            t += int(p.rng.expovariate(1 / 2_700) * 1000)  # a bout every ~45 min
            start, end = t, t + int(p.rng.uniform(4, 20) * MINUTE_MS)
            quiet = any(e.start_ms - 12 * MINUTE_MS < end and start < e.end_ms for e in p.events)
            if not quiet:
                p.bouts.append((start, end))
            t = end

    def uploads_until(self, until_ms: int) -> Iterator[tuple[bytes, bytes, int]]:
        """Uploads whose samples end at or before ``until_ms``, in event-time order."""
        until_ms = min(until_ms, self.end_ms)
        pending = []
        for p in self.patients:
            while p.last_upload_ms + p.upload_every_ms <= until_ms:
                upload_end = p.last_upload_ms + p.upload_every_ms
                samples = []
                while p.next_t_ms < upload_end:
                    s = p.sample(p.next_t_ms)
                    if s is not None:
                        samples.append(s)
                    p.next_t_ms += SAMPLE_MS
                p.last_upload_ms = upload_end
                p.battery_pct = max(5.0, p.battery_pct - p.upload_every_ms / 600_000)
                if p.event_at(upload_end - 1) == "device_offline":
                    continue  # the device sends nothing while offline; its samples are lost
                if not samples:
                    continue
                p.upload_seq += 1
                battery = p.battery_pct
                if p.event_at(upload_end - 1) == "low_battery":
                    battery = 8.0
                doc = {
                    "schema_version": SCHEMA_VERSION,
                    "upload_id": f"{p.device_id}-{p.upload_seq:07d}",
                    "device_id": p.device_id,
                    "patient_id": p.patient_id,
                    "uploaded_at_ms": upload_end,
                    "battery_pct": round(battery, 1),
                    "samples": samples,
                }
                pending.append((upload_end, p.patient_id.encode(), orjson.dumps(doc)))
        pending.sort(key=lambda item: item[0])
        for last_t_ms, key, value in pending:
            yield key, value, last_t_ms

    def labels_json(self) -> bytes:
        return orjson.dumps([asdict(label) for label in self.labels], option=orjson.OPT_INDENT_2)
