"""All detectors of one patient behind one object: what the stream and the evaluation both call.

``PatientModels.observe(ctx)`` runs every detector (score first, then learn) and returns the
findings; ``to_state``/``from_state`` save and restore everything in a versioned JSON document
(no unrestricted pickle: River objects go through ``models.state``). The state of one patient
stays under ``MAX_STATE_BYTES`` when serialised as JSON (tested after months of data).

Detectors: data quality, clinical bands (partial NEWS2), contextual heart rate, slow deviation
(overnight resting heart rate over days), activity pattern, irregular rhythm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wearmon.models.activity import ActivityPattern
from wearmon.models.bands import BandSettings, ClinicalBands
from wearmon.models.base import Context, Detector, Finding, Status
from wearmon.models.contextual_hr import ContextualHeartRate
from wearmon.models.quality import DataQuality
from wearmon.models.rhythm import IrregularRhythm
from wearmon.models.slow import SlowDeviation

SUITE_STATE_VERSION = 2
MAX_STATE_BYTES = 16 * 1024


@dataclass(slots=True)
class PatientModels:
    """The detectors of one patient.

    >>> m = PatientModels()
    >>> [f.kind for f in m.observe(Context(t_ms=0, hr_bpm=35, at_rest=True))]
    ['bradycardia']
    >>> m.status().value  # the personal baselines are still warming up
    'cant_assess'
    >>> restored = PatientModels.from_state(m.to_state())
    >>> restored.quality.last_worn_ms
    0
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

    def observe(self, ctx: Context) -> list[Finding]:
        findings = []
        for detector in self.detectors:
            finding = detector.score_then_learn(ctx)
            if finding is not None:
                findings.append(finding)
        return findings

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
