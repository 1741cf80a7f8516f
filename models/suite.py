"""All detectors of one patient behind one object: what the stream and the evaluation both call.

``PatientModels`` hands each detector what it works on, at its own cadence: an upload's samples
(data quality, clinical bands) and beats (irregular rhythm) as arrays, each closed minute
(contextual heart rate, activity) and each closed day (slow deviation, activity decline).
``to_state``/``from_state`` save and restore everything in a versioned JSON document (no
unrestricted pickle: River objects go through ``models.state``). The state of one patient stays
under ``MAX_STATE_BYTES`` when serialised as JSON (tested after months of data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wearmon.models.activity import ActivityPattern
from wearmon.models.bands import BandSettings, ClinicalBands
from wearmon.models.bands import score_many as score_bands
from wearmon.models.base import (
    BeatBlock,
    BoolArray,
    Day,
    Detector,
    Finding,
    IntArray,
    Minute,
    SampleBlock,
    Status,
)
from wearmon.models.contextual_hr import ContextualHeartRate
from wearmon.models.quality import DataQuality
from wearmon.models.quality import score_many as score_quality
from wearmon.models.rhythm import IrregularRhythm
from wearmon.models.slow import SlowDeviation

SUITE_STATE_VERSION = 4  # 4: the clinical bands keep their episodes (since, range)
MAX_STATE_BYTES = 16 * 1024


@dataclass(slots=True)
class PatientModels:
    """The detectors of one patient.

    >>> m = PatientModels()
    >>> half_minute = list(range(0, 35_000, 5_000))
    >>> [f.kind for f in m.score_samples(SampleBlock.build(half_minute, hr_bpm=[35] * 7,
    ...                                                    at_rest=True))]
    ['bradycardia']
    >>> m.status().value  # the personal baselines are still warming up
    'cant_assess'
    >>> restored = PatientModels.from_state(m.to_state())
    >>> restored.quality.last_worn_ms
    30000
    """

    quality: DataQuality = field(default_factory=DataQuality)
    bands: ClinicalBands = field(default_factory=ClinicalBands)
    contextual_hr: ContextualHeartRate = field(default_factory=ContextualHeartRate)
    slow: SlowDeviation = field(default_factory=SlowDeviation)
    activity: ActivityPattern = field(default_factory=ActivityPattern)
    rhythm: IrregularRhythm = field(default_factory=IrregularRhythm)

    @classmethod
    def with_settings(cls, settings: BandSettings) -> PatientModels:
        """Detectors for a patient with clinical overrides (e.g. beta-blockers, SpO2 scale 2)."""
        return cls(bands=ClinicalBands(settings=settings))

    @property
    def detectors(self) -> tuple[Detector, ...]:
        return (self.quality, self.bands, self.contextual_hr, self.slow, self.activity,
                self.rhythm)

    def score_samples(self, block: SampleBlock) -> list[Finding]:
        """An upload's in-order samples: data quality and clinical bands."""
        return self.quality.score_samples(block) + self.bands.score_samples(block)

    @staticmethod
    def score_many(models: Sequence[PatientModels], block: SampleBlock, starts: IntArray
                   ) -> list[list[Finding]]:
        """The samples of several patients at once (``models[k]`` gets
        ``block[starts[k]:starts[k + 1]]``): data quality and clinical bands."""
        quality = score_quality([m.quality for m in models], block, starts)
        bands = score_bands([m.bands for m in models], block, starts)
        return [q + b for q, b in zip(quality, bands, strict=True)]

    def score_beats(self, beats: BeatBlock) -> tuple[list[Finding], BoolArray]:
        """An upload's beats: irregular rhythm (and its decision at each beat)."""
        return self.rhythm.score_beats(beats)

    def observe_minute(self, minute: Minute) -> list[Finding]:
        found = [self.contextual_hr.observe_minute(minute), self.activity.observe_minute(minute)]
        return [f for f in found if f is not None]

    def observe_day(self, day: Day) -> list[Finding]:
        found = [self.slow.judge_day(day), self.activity.observe_day(day)]
        return [f for f in found if f is not None]

    def status(self) -> Status:
        """CANT_ASSESS while not worn or while the personal heart-rate baseline warms up."""
        if self.quality.status() is Status.CANT_ASSESS:
            return Status.CANT_ASSESS
        if (
            self.contextual_hr.status() is Status.CANT_ASSESS
            and self.rhythm.status() is Status.CANT_ASSESS
        ):
            return Status.CANT_ASSESS
        return Status.OK

    def statuses(self) -> dict[str, Status]:
        """Each detector's own status (what can and cannot be assessed yet)."""
        return {d.name: d.status() for d in self.detectors}

    def baseline(self) -> tuple[float, float] | None:
        """(resting HR, sd) in bpm once the personal baseline is established."""
        return self.contextual_hr.baseline()

    def to_state(self) -> dict[str, Any]:
        return {
            "v": SUITE_STATE_VERSION,
            "quality": self.quality.to_state(),
            "bands": self.bands.to_state(),
            "contextual_hr": self.contextual_hr.to_state(),
            "slow": self.slow.to_state(),
            "activity": self.activity.to_state(),
            "rhythm": self.rhythm.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PatientModels:
        if state.get("v") != SUITE_STATE_VERSION:
            raise ValueError(f"detector state version {state.get('v')!r} != {SUITE_STATE_VERSION}")
        return cls(
            quality=DataQuality.from_state(state["quality"]),
            bands=ClinicalBands.from_state(state["bands"]),
            contextual_hr=ContextualHeartRate.from_state(state["contextual_hr"]),
            slow=SlowDeviation.from_state(state["slow"]),
            activity=ActivityPattern.from_state(state["activity"]),
            rhythm=IrregularRhythm.from_state(state["rhythm"]),
        )
