"""Clinical bands: partial NEWS2 sub-scores and fixed safety limits, with per-patient overrides.

NEWS2 (Royal College of Physicians, 2017) scores each vital 0-3. A wearable lacks blood pressure,
consciousness and supplemental-oxygen status, so any score computed here is *partial* and says
which parameters are missing. SpO2 uses scale 1, or scale 2 (target 88-92%, hypercapnic
respiratory failure) when the patient's settings say so. Heart-rate limits for tachycardia apply at
rest only: a high heart rate while walking is expected. Skin temperature is not core temperature:
it is only scored when the patient's settings give an offset from skin to core temperature.

Critical values (e.g. 150 bpm at rest) are reported at once; warning-level values must persist
for ``persist_ms`` of event time (a short artefact is not a deterioration). Heart rate arrives as a
30-second rolling median, which crosses a limit about 15 s after the raw samples do, so 45 s of
persistence on the median is about a minute of abnormal raw readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wearmon.models.base import Context, Finding, Severity, Status

NEWS2_MISSING_ALWAYS = ("blood pressure", "consciousness", "supplemental oxygen")


def news2_heart_rate(hr_bpm: float) -> int:
    """NEWS2 pulse sub-score.

    >>> [news2_heart_rate(v) for v in (38, 45, 70, 100, 120, 140)]
    [3, 1, 0, 1, 2, 3]
    """
    if hr_bpm <= 40:
        return 3
    if hr_bpm <= 50:
        return 1
    if hr_bpm <= 90:
        return 0
    if hr_bpm <= 110:
        return 1
    if hr_bpm <= 130:
        return 2
    return 3


def news2_spo2_scale1(spo2_pct: float) -> int:
    """NEWS2 SpO2 scale 1 sub-score (patients without hypercapnic respiratory failure).

    >>> [news2_spo2_scale1(v) for v in (90, 92.5, 95, 97)]
    [3, 2, 1, 0]
    """
    if spo2_pct <= 91:
        return 3
    if spo2_pct <= 93:
        return 2
    if spo2_pct <= 95:
        return 1
    return 0


def news2_spo2_scale2(spo2_pct: float, on_oxygen: bool = False) -> int:
    """NEWS2 SpO2 scale 2 sub-score (target 88-92%); high values only score on oxygen.

    >>> [news2_spo2_scale2(v) for v in (82, 85, 87, 90, 97)]
    [3, 2, 1, 0, 0]
    >>> news2_spo2_scale2(97, on_oxygen=True)
    3
    """
    if spo2_pct <= 83:
        return 3
    if spo2_pct <= 85:
        return 2
    if spo2_pct <= 87:
        return 1
    if spo2_pct <= 92 or not on_oxygen:
        return 0
    if spo2_pct <= 94:
        return 1
    if spo2_pct <= 96:
        return 2
    return 3


def news2_resp_rate(brpm: float) -> int:
    """NEWS2 respiration-rate sub-score.

    >>> [news2_resp_rate(v) for v in (7, 10, 16, 22, 26)]
    [3, 1, 0, 2, 3]
    """
    if brpm <= 8:
        return 3
    if brpm <= 11:
        return 1
    if brpm <= 20:
        return 0
    if brpm <= 24:
        return 2
    return 3


def news2_temperature(core_c: float) -> int:
    """NEWS2 temperature sub-score (core temperature, °C).

    >>> [news2_temperature(v) for v in (34.9, 35.8, 37.0, 38.5, 39.5)]
    [3, 1, 0, 1, 2]
    """
    if core_c <= 35.0:
        return 3
    if core_c <= 36.0:
        return 1
    if core_c <= 38.0:
        return 0
    if core_c <= 39.0:
        return 1
    return 2


@dataclass(slots=True)
class BandSettings:
    """Per-patient clinical settings (e.g. beta-blockers: lower HR limits; COPD: scale 2)."""

    spo2_scale: int = 1
    rest_hr_high_bpm: float = 120.0
    hr_low_bpm: float = 40.0
    spo2_low_pct: float | None = None  # default: 90 on scale 1, 86 on scale 2
    skin_temp_offset_c: float | None = None  # core ≈ skin + offset; None: temperature not scored
    news2_alert_total: int = 5

    def spo2_limit(self) -> float:
        if self.spo2_low_pct is not None:
            return self.spo2_low_pct
        return 86.0 if self.spo2_scale == 2 else 90.0

    def to_state(self) -> dict[str, Any]:
        return {
            "spo2_scale": self.spo2_scale,
            "rest_hr_high_bpm": self.rest_hr_high_bpm,
            "hr_low_bpm": self.hr_low_bpm,
            "spo2_low_pct": self.spo2_low_pct,
            "skin_temp_offset_c": self.skin_temp_offset_c,
            "news2_alert_total": self.news2_alert_total,
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> BandSettings:
        return cls(**st)


@dataclass(slots=True)
class PartialNews2:
    """Sub-scores of the parameters present, and the names of those missing."""

    total: int
    subscores: dict[str, int]
    missing: tuple[str, ...]

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.subscores.items())
        return f"partial NEWS2 {self.total} ({parts}; missing: {', '.join(self.missing)})"


def partial_news2(ctx: Context, settings: BandSettings) -> PartialNews2:
    """Partial NEWS2 of the vitals in ``ctx``; heart rate counts at rest or if activity is unknown.

    >>> ctx = Context(t_ms=0, hr_bpm=125, spo2_pct=93, resp_rate_brpm=23)
    >>> s = partial_news2(ctx, BandSettings())
    >>> s.total, s.subscores
    (6, {'heart rate': 2, 'SpO2 scale 1': 2, 'respiration rate': 2})
    >>> s.missing
    ('blood pressure', 'consciousness', 'supplemental oxygen', 'temperature')
    """
    sub: dict[str, int] = {}
    missing = list(NEWS2_MISSING_ALWAYS)
    if ctx.hr_bpm is not None and (ctx.at_rest or not ctx.has_steps):
        sub["heart rate"] = news2_heart_rate(ctx.hr_bpm)
    elif ctx.hr_bpm is None:
        missing.append("heart rate")
    if ctx.spo2_pct is not None:
        if settings.spo2_scale == 2:
            sub["SpO2 scale 2"] = news2_spo2_scale2(ctx.spo2_pct)
        else:
            sub["SpO2 scale 1"] = news2_spo2_scale1(ctx.spo2_pct)
    else:
        missing.append("SpO2")
    if ctx.resp_rate_brpm is not None:
        sub["respiration rate"] = news2_resp_rate(ctx.resp_rate_brpm)
    else:
        missing.append("respiration rate")
    if ctx.skin_temp_c is not None and settings.skin_temp_offset_c is not None:
        sub["temperature"] = news2_temperature(ctx.skin_temp_c + settings.skin_temp_offset_c)
    else:
        missing.append("temperature")
    return PartialNews2(sum(sub.values()), sub, tuple(missing))


@dataclass(slots=True)
class ClinicalBands:
    """Fixed limits clinicians know, plus a partial NEWS2 total; per-patient overrides.

    >>> bands = ClinicalBands()
    >>> bands.score_then_learn(Context(t_ms=0, hr_bpm=152, at_rest=True, has_steps=True)).kind
    'tachycardia_at_rest'
    >>> walking = Context(t_ms=0, hr_bpm=142, steps_recent=300, has_steps=True)
    >>> bands.score_then_learn(walking) is None
    True
    >>> bands.score_then_learn(Context(t_ms=0, spo2_pct=86)).severity.value
    'critical'
    >>> beta = ClinicalBands(settings=BandSettings(hr_low_bpm=35))
    >>> beta.score_then_learn(Context(t_ms=0, hr_bpm=38)) is None
    True
    """

    name: str = "clinical_bands"
    settings: BandSettings = field(default_factory=BandSettings)
    persist_ms: int = 45_000
    spo2_persist_ms: int = 2 * 60_000
    _since: dict[str, int] = field(default_factory=dict)

    def _persisted(
        self, kind: str, active: bool, t_ms: int, critical: bool, persist_ms: int | None = None
    ) -> bool:
        """True when ``active`` has held since a start less than ``persist_ms`` ago (or critical).

        A measure that is missing in a sample does not call this (its timer keeps running), but
        a timer older than twice the persistence without a new reading starts over.
        """
        persist = self.persist_ms if persist_ms is None else persist_ms
        if not active:
            self._since.pop(kind, None)
            self._since.pop(kind + ":last", None)
            return False
        if t_ms - self._since.get(kind + ":last", t_ms) > 2 * persist:
            self._since.pop(kind, None)
        self._since[kind + ":last"] = t_ms
        start = self._since.setdefault(kind, t_ms)
        return critical or t_ms - start >= persist

    def score_then_learn(self, ctx: Context) -> Finding | None:
        st = self.settings
        t = ctx.t_ms
        context = self._context_words(ctx)
        spo2 = ctx.spo2_pct
        limit = st.spo2_limit()
        if spo2 is not None and self._persisted(
            "desaturation", spo2 < limit, t, spo2 <= limit - 4, self.spo2_persist_ms
        ):
            news = partial_news2(ctx, st)
            return Finding(
                self.name,
                t,
                Severity.CRITICAL if spo2 < limit - 2 else Severity.WARNING,
                float(news.total),
                spo2,
                limit,
                f"SpO2 {spo2:.0f}% is below this patient's limit of {limit:.0f}% "
                f"(scale {st.spo2_scale}); {context}; {news.describe()}.",
                kind="desaturation",
            )
        hr = ctx.hr_bpm
        if hr is None or not ctx.worn:
            self._since.pop("bradycardia", None)
            self._since.pop("tachycardia_at_rest", None)
            return self._news2(ctx, context)
        if self._persisted("bradycardia", hr < st.hr_low_bpm, t, hr <= st.hr_low_bpm - 5):
            return Finding(
                self.name,
                t,
                Severity.CRITICAL,
                float(news2_heart_rate(hr)),
                hr,
                st.hr_low_bpm,
                f"Heart rate {hr:.0f} bpm is below this patient's limit of "
                f"{st.hr_low_bpm:.0f} bpm; "
                f"{context}.",
                kind="bradycardia",
            )
        high = ctx.at_rest and hr > st.rest_hr_high_bpm
        if self._persisted("tachycardia_at_rest", high, t, hr >= st.rest_hr_high_bpm + 30):
            return Finding(
                self.name,
                t,
                Severity.CRITICAL if hr >= st.rest_hr_high_bpm + 30 else Severity.WARNING,
                float(news2_heart_rate(hr)),
                hr,
                st.rest_hr_high_bpm,
                f"Heart rate {hr:.0f} bpm at rest is above this patient's limit of "
                f"{st.rest_hr_high_bpm:.0f} bpm; {context}.",
                kind="tachycardia_at_rest",
            )
        return self._news2(ctx, context)

    def _news2(self, ctx: Context, context: str) -> Finding | None:
        if ctx.resp_rate_brpm is None and ctx.skin_temp_c is None and ctx.spo2_pct is None:
            self._since.pop("news2", None)
            return None
        news = partial_news2(ctx, self.settings)
        red = any(v == 3 for v in news.subscores.values())
        alarm = news.total >= self.settings.news2_alert_total or red
        if not self._persisted("news2", alarm, ctx.t_ms, news.total >= 7, self.spo2_persist_ms):
            return None
        reason = (
            "a single parameter scores 3" if red else f"total ≥ {self.settings.news2_alert_total}"
        )
        return Finding(
            self.name,
            ctx.t_ms,
            Severity.CRITICAL if news.total >= 7 else Severity.WARNING,
            float(news.total),
            float(news.total),
            float(self.settings.news2_alert_total),
            f"The {news.describe()} reaches the alert level ({reason}); {context}.",
            kind="news2_partial",
        )

    @staticmethod
    def _context_words(ctx: Context) -> str:
        if not ctx.has_steps:
            activity = "activity unknown"
        elif ctx.at_rest:
            activity = "at rest (no steps in the last 10 minutes)"
        else:
            activity = f"active ({ctx.steps_recent} steps in the last 10 minutes)"
        return f"{activity}, at {ctx.hour_of_day:02d}:00"

    def status(self) -> Status:
        return Status.OK

    def to_state(self) -> dict[str, Any]:
        return {"settings": self.settings.to_state()}

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> ClinicalBands:
        return cls(settings=BandSettings.from_state(st["settings"]))
