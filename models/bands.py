"""Clinical bands: partial NEWS2 sub-scores and fixed safety limits, with per-patient overrides.

NEWS2 (Royal College of Physicians, 2017) scores each vital 0-3. A wearable lacks blood pressure,
consciousness and supplemental-oxygen status, so any score computed here is *partial* and says
which parameters are missing. SpO2 uses scale 1, or scale 2 (target 88-92%, hypercapnic
respiratory failure) when the patient's settings say so. Heart-rate limits for tachycardia apply at
rest only: a high heart rate while walking is expected. Skin temperature is not core temperature:
it is only scored when the patient's settings give an offset from skin to core temperature.

Heart rate arrives as a 30-second rolling median, which crosses a limit about 15 s after the
raw samples do. Critical heart rates (e.g. 150 bpm at rest) are reported once the median has
been beyond the limit for ``hr_critical_ms`` (30 s: a burst of artefact shorter than the median
window, as chest straps give after losing contact, never pages anyone). Heart-rate warnings
must persist ``hr_persist_ms`` (2 minutes: heart rate drifting past 120 at rest while the
patient exercises without steps, cycling or lifting, is the most common false alarm on
smartwatch data) unless the heart rate jumped past the limit (``sudden_jump_bpm`` between
readings, as an arrhythmia starts): then ``sudden_persist_ms`` (45 s). Only readings with a
heart rate count: a sample with steps or beat intervals alone neither holds nor breaks a
heart-rate condition. SpO2 and NEWS2 keep their own persistence (critical SpO2 at once).
All checks run on the upload's arrays at once (``score_samples``); a finding is reported at
most once a minute per kind while the condition lasts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wearmon.models.base import (
    BoolArray,
    Finding,
    FloatArray,
    IntArray,
    SampleBlock,
    Severity,
    Status,
    activity_words,
    duration_words,
    local_clock,
    period_of_day,
    value_range,
)
from wearmon.models.persistence import Timer, persisted, run_since

NEWS2_MISSING_ALWAYS = ("blood pressure", "consciousness", "supplemental oxygen")
#: how a missing NEWS2 parameter is named in the one short clause of an explanation
SHORT_NAMES = {"blood pressure": "BP", "supplemental oxygen": "O₂ therapy",
               "respiration rate": "respiration"}


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
        """The total, its sub-scores and, in one short clause, what a wearable cannot score.

        >>> partial_news2(BandSettings(), hr_bpm=70, spo2_pct=89).describe()
        ... # doctest: +NORMALIZE_WHITESPACE
        'partial NEWS2 3 (heart rate 0, SpO2 3; without BP, consciousness, O₂ therapy,
        respiration or temperature)'
        """
        parts = ", ".join(f"{k.replace(' (scale 1)', '').replace(' (scale 2)', '')} {v}"
                          for k, v in self.subscores.items())
        return f"partial NEWS2 {self.total} ({parts}; {missing_clause(self.missing)})"


def missing_clause(missing: Sequence[str]) -> str:
    """``without BP, consciousness or O₂ therapy``: the parameters not scored.

    >>> missing_clause(["blood pressure"]), missing_clause([])
    ('without BP', 'nothing missing')
    """
    names = [SHORT_NAMES.get(m, m) for m in missing]
    if not names:
        return "nothing missing"
    if len(names) == 1:
        return f"without {names[0]}"
    return f"without {', '.join(names[:-1])} or {names[-1]}"


@dataclass(slots=True)
class Episode:
    """The run of one condition so far: when it began and its lowest and highest value."""

    since_ms: int
    lo: float
    hi: float

    def to_state(self) -> list[float]:
        return [self.since_ms, self.lo, self.hi]

    @classmethod
    def from_state(cls, state: list[float]) -> Episode:
        return cls(int(state[0]), float(state[1]), float(state[2]))


def _present(value: float | None) -> bool:
    return value is not None and not np.isnan(value)


def partial_news2(settings: BandSettings, *, hr_bpm: float | None = None, hr_counts: bool = True,
                  spo2_pct: float | None = None, resp_rate_brpm: float | None = None,
                  skin_temp_c: float | None = None) -> PartialNews2:
    """Partial NEWS2 of one moment; heart rate counts at rest or when activity is unknown
    (``hr_counts``).

    >>> s = partial_news2(BandSettings(), hr_bpm=125, spo2_pct=93, resp_rate_brpm=23)
    >>> s.total, s.subscores
    (6, {'heart rate': 2, 'SpO2 (scale 1)': 2, 'respiration rate': 2})
    >>> s.missing
    ('blood pressure', 'consciousness', 'supplemental oxygen', 'temperature')
    """
    sub: dict[str, int] = {}
    missing = list(NEWS2_MISSING_ALWAYS)
    if hr_bpm is not None and _present(hr_bpm):
        if hr_counts:
            sub["heart rate"] = news2_heart_rate(hr_bpm)
    else:
        missing.append("heart rate")
    if spo2_pct is not None and _present(spo2_pct):
        if settings.spo2_scale == 2:
            sub["SpO2 (scale 2)"] = news2_spo2_scale2(spo2_pct)
        else:
            sub["SpO2 (scale 1)"] = news2_spo2_scale1(spo2_pct)
    else:
        missing.append("SpO2")
    if resp_rate_brpm is not None and _present(resp_rate_brpm):
        sub["respiration rate"] = news2_resp_rate(resp_rate_brpm)
    else:
        missing.append("respiration rate")
    if (skin_temp_c is not None and _present(skin_temp_c)
            and settings.skin_temp_offset_c is not None):
        sub["temperature"] = news2_temperature(skin_temp_c + settings.skin_temp_offset_c)
    else:
        missing.append("temperature")
    return PartialNews2(sum(sub.values()), sub, tuple(missing))


_HR_BANDS = (np.array([40, 50, 90, 110, 130]), np.array([3, 1, 0, 1, 2, 3]))
_SPO2_SCALE1 = (np.array([91, 93, 95]), np.array([3, 2, 1, 0]))
_SPO2_SCALE2 = (np.array([83, 85, 87]), np.array([3, 2, 1, 0]))
_RESP_BANDS = (np.array([8, 11, 20, 24]), np.array([3, 1, 0, 2, 3]))
_TEMP_BANDS = (np.array([35, 36, 38, 39]), np.array([3, 1, 0, 1, 2]))


def _bands(values: FloatArray, bands: tuple[np.ndarray, np.ndarray]) -> FloatArray:
    """Sub-score of each value (NaN stays NaN): ``scores[i]`` up to and including
    ``edges[i]``, the last score above the last edge."""
    edges, scores = bands
    out = scores[np.searchsorted(edges, values, side="left")].astype(np.float64)
    out[np.isnan(values)] = np.nan
    return out


def news2_arrays(block: SampleBlock, settings: BandSettings,
                 rows: np.ndarray | None = None) -> tuple[FloatArray, BoolArray]:
    """Partial NEWS2 total and "a parameter scores 3" at each sample (or at ``rows``)."""
    pick = slice(None) if rows is None else rows
    hr_counts = block.worn[pick] & (block.at_rest[pick] | ~block.has_steps[pick])
    parts = [_bands(np.where(hr_counts, block.hr_bpm[pick], np.nan), _HR_BANDS),
             _bands(block.spo2_pct[pick],
                    _SPO2_SCALE2 if settings.spo2_scale == 2 else _SPO2_SCALE1),
             _bands(block.resp_rate_brpm[pick], _RESP_BANDS)]
    if settings.skin_temp_offset_c is not None:
        parts.append(_bands(block.skin_temp_c[pick] + settings.skin_temp_offset_c, _TEMP_BANDS))
    stacked = np.vstack(parts)
    return np.nansum(stacked, axis=0), np.any(stacked == 3, axis=0)


#: (detector key, finding kind): one timer each
KINDS = ("desaturation", "bradycardia", "tachycardia_at_rest", "news2_partial")


@dataclass(slots=True)
class ClinicalBands:
    """Fixed limits clinicians know, plus a partial NEWS2 total; per-patient overrides.

    >>> bands = ClinicalBands()
    >>> half_minute = list(range(0, 35_000, 5_000))
    >>> bands.score_samples(SampleBlock.build(  # one reading: an artefact burst
    ...     [0], hr_bpm=[152], at_rest=True, has_steps=True))
    []
    >>> [f.kind for f in ClinicalBands().score_samples(SampleBlock.build(
    ...     half_minute, hr_bpm=[152] * 7, at_rest=True, has_steps=True))]
    ['tachycardia_at_rest']
    >>> walking = SampleBlock.build([0], hr_bpm=[142], steps_recent=[300], has_steps=True)
    >>> bands.score_samples(walking)
    []
    >>> bands.score_samples(SampleBlock.build([0], spo2_pct=[86]))[0].severity.value
    'critical'
    >>> beta = ClinicalBands(settings=BandSettings(hr_low_bpm=35))
    >>> beta.score_samples(SampleBlock.build([0], hr_bpm=[38]))
    []
    """

    name: str = "clinical_bands"
    settings: BandSettings = field(default_factory=BandSettings)
    persist_ms: int = 45_000  # warnings other than heart rate (NEWS2 uses spo2_persist_ms)
    hr_persist_ms: int = 2 * 60_000  # heart-rate warnings (bradycardia, tachycardia at rest) ...
    hr_critical_ms: int = 30_000  # heart-rate critical values: held one median window
    spo2_persist_ms: int = 2 * 60_000
    repeat_ms: int = 60_000  # while a condition lasts, one finding per kind per minute
    sudden_persist_ms: int = 45_000  # ... unless the heart rate jumped past the limit
    sudden_jump_bpm: float = 25.0  # a jump: this much between two readings ...
    sudden_within_ms: int = 2 * 60_000  # ... at most this far apart
    timers: dict[str, Timer] = field(default_factory=lambda: {k: Timer() for k in KINDS})
    emitted_ms: dict[str, int] = field(default_factory=dict)
    episodes: dict[str, Episode] = field(default_factory=dict)  # the runs in progress
    # the last two heart-rate readings (30-s median, oldest first), for a sudden change
    last_hr_ms: list[int] = field(default_factory=lambda: [-1, -1])
    last_hr_bpm: list[float] = field(default_factory=lambda: [0.0, 0.0])

    def status(self) -> Status:
        return Status.OK

    def score_samples(self, block: SampleBlock) -> list[Finding]:
        """Findings of one upload's in-order samples (at most one per kind per minute)."""
        if len(block) == 0:
            return []
        st = self.settings
        t = block.t_ms
        findings: list[Finding] = []
        spo2 = block.spo2_pct
        has_spo2 = ~np.isnan(spo2)
        if has_spo2.any():
            limit = st.spo2_limit()
            readings = np.flatnonzero(has_spo2)
            low = spo2[readings]
            findings += self._check("desaturation", block, readings, low, low < limit,
                                    low <= limit - 4, self.spo2_persist_ms, self._desaturation)
        # heart-rate readings only: a sample without heart rate (steps or beats alone) neither
        # holds nor breaks a heart-rate condition; a silence does (``persisted``)
        with_hr = np.flatnonzero(~np.isnan(block.hr_bpm))
        hr = block.hr_bpm[with_hr]
        rise, drop = self._jumps(t[with_hr], hr)
        findings += self._check("bradycardia", block, with_hr, hr, hr < st.hr_low_bpm,
                                hr <= st.hr_low_bpm - 5, self.hr_persist_ms, self._bradycardia,
                                self.hr_critical_ms, drop)
        findings += self._check("tachycardia_at_rest", block, with_hr, hr,
                                block.at_rest[with_hr] & (hr > st.rest_hr_high_bpm),
                                hr >= st.rest_hr_high_bpm + 30, self.hr_persist_ms,
                                self._tachycardia, self.hr_critical_ms, rise)
        everyone = np.arange(len(t))
        scored = has_spo2 | ~np.isnan(block.resp_rate_brpm) | ~np.isnan(block.skin_temp_c)
        alarm = np.zeros(len(t), dtype=bool)
        critical = alarm
        total = np.zeros(len(t))
        rows = np.flatnonzero(scored)
        if len(rows):
            alarm = alarm.copy()
            critical = np.zeros(len(t), dtype=bool)
            if len(rows) <= 4:  # e.g. one SpO2 reading a minute: cheaper one at a time
                for i in rows.tolist():
                    news = self._news2_at(block, i)
                    red = any(v == 3 for v in news.subscores.values())
                    total[i] = news.total
                    alarm[i] = news.total >= st.news2_alert_total or red
                    critical[i] = alarm[i] and news.total >= 7
            else:
                totals, red_rows = news2_arrays(block, st, rows)
                total[rows] = totals
                alarm[rows] = (totals >= st.news2_alert_total) | red_rows
                critical[rows] = alarm[rows] & (totals >= 7)
        findings += self._check("news2_partial", block, everyone, total, alarm, critical,
                                self.spo2_persist_ms, self._news2)
        return findings

    def _jumps(self, t_ms: IntArray, hr: FloatArray) -> tuple[BoolArray, BoolArray]:
        """Whether each heart-rate reading rose / fell suddenly: by ``sudden_jump_bpm`` from one
        of the two readings before it (the 30-s median can pass one value half-way); remembers
        the last two readings."""
        if not len(hr):
            return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
        all_t = np.concatenate((self.last_hr_ms, t_ms))
        all_v = np.concatenate((self.last_hr_bpm, hr))
        rise = np.zeros(len(hr), dtype=bool)
        drop = np.zeros(len(hr), dtype=bool)
        for back in (1, 2):
            prev_t, prev = all_t[2 - back:len(all_t) - back], all_v[2 - back:len(all_v) - back]
            near = (prev_t >= 0) & (t_ms - prev_t <= self.sudden_within_ms)
            rise |= near & (hr - prev >= self.sudden_jump_bpm)
            drop |= near & (prev - hr >= self.sudden_jump_bpm)
        self.last_hr_ms, self.last_hr_bpm = all_t[-2:].tolist(), all_v[-2:].tolist()
        return rise, drop

    def _check(self, kind: str, block: SampleBlock, readings: np.ndarray, values: FloatArray,
               active: BoolArray, critical: BoolArray, persist_ms: int,
               explain: Callable[[SampleBlock, int, Episode], Finding], critical_ms: int = 0,
               sudden: BoolArray | None = None) -> list[Finding]:
        """Persistence of one condition over its readings, and its findings."""
        timer = self.timers[kind]
        if not len(readings):  # nothing measured: a silence, judged by ``persisted`` later
            return []
        if not active.any():  # the usual case: nothing abnormal, the timer rests
            timer.since_ms = timer.last_ms = -1
            timer.sudden = False
            self.episodes.pop(kind, None)
            return []
        t_ms = block.t_ms[readings]
        since = run_since(timer, t_ms, active, persist_ms)
        hits = persisted(timer, t_ms, active, critical, persist_ms, critical_ms, sudden,
                         None if sudden is None else self.sudden_persist_ms)
        carried = self.episodes.pop(kind, None)
        out, last = [], self.emitted_ms.get(kind)
        for i in np.flatnonzero(hits).tolist():
            t = int(t_ms[i])
            if last is None or t - last >= self.repeat_ms:
                episode = self._episode(carried, since, values, active, i)
                out.append(explain(block, int(readings[i]), episode))
                last = self.emitted_ms[kind] = t
        if active[-1]:
            self.episodes[kind] = self._episode(carried, since, values, active, len(since) - 1)
        return out

    @staticmethod
    def _episode(carried: Episode | None, since: np.ndarray, values: FloatArray,
                 active: BoolArray, i: int) -> Episode:
        """The run reading ``i`` belongs to, up to that reading (the carried part included)."""
        start = int(since[i])
        members = active[: i + 1] & (since[: i + 1] == start)
        seen = values[: i + 1][members]
        lo, hi = float(np.nanmin(seen)), float(np.nanmax(seen))
        if carried is not None and carried.since_ms == start:
            lo, hi = min(lo, carried.lo), max(hi, carried.hi)
        return Episode(start, lo, hi)

    def _news2_at(self, block: SampleBlock, i: int) -> PartialNews2:
        hr = float(block.hr_bpm[i])
        return partial_news2(
            self.settings, hr_bpm=hr, hr_counts=bool(block.at_rest[i] or not block.has_steps[i]),
            spo2_pct=float(block.spo2_pct[i]), resp_rate_brpm=float(block.resp_rate_brpm[i]),
            skin_temp_c=float(block.skin_temp_c[i]))

    @staticmethod
    def _context(block: SampleBlock, i: int) -> str:
        activity = activity_words(bool(block.has_steps[i]), bool(block.at_rest[i]),
                                  int(block.steps_recent[i]))
        return f"{activity}, {period_of_day(int(block.hour_of_day[i]))}"

    @staticmethod
    def _for_since(block: SampleBlock, i: int, episode: Episode) -> str:
        """``for 4 min since 02:03`` (the patient's local time)."""
        lasted = duration_words(int(block.t_ms[i]) - episode.since_ms)
        return f"for {lasted} since {local_clock(episode.since_ms, int(block.utc_offset_ms[i]))}"

    def _desaturation(self, block: SampleBlock, i: int, episode: Episode) -> Finding:
        st = self.settings
        spo2, limit = float(block.spo2_pct[i]), st.spo2_limit()
        news = self._news2_at(block, i)
        return Finding(
            self.name, int(block.t_ms[i]),
            Severity.CRITICAL if spo2 < limit - 2 else Severity.WARNING,
            float(news.total), spo2, limit,
            f"SpO2 {value_range(episode.lo, episode.hi, spo2, '%')} "
            f"{self._for_since(block, i, episode)}, below this patient's configured limit of "
            f"{limit:.0f}% (NEWS2 SpO2 scale {st.spo2_scale}); {self._context(block, i)}; "
            f"{news.describe()}.",
            kind="desaturation",
        )

    def _bradycardia(self, block: SampleBlock, i: int, episode: Episode) -> Finding:
        hr, limit = float(block.hr_bpm[i]), self.settings.hr_low_bpm
        return Finding(
            self.name, int(block.t_ms[i]), Severity.CRITICAL, float(news2_heart_rate(hr)), hr,
            limit,
            f"Heart rate {value_range(episode.lo, episode.hi, hr, ' bpm')} "
            f"{self._for_since(block, i, episode)}, below this patient's configured limit of "
            f"{limit:.0f} bpm; {self._context(block, i)}.",
            kind="bradycardia",
        )

    def _tachycardia(self, block: SampleBlock, i: int, episode: Episode) -> Finding:
        hr, limit = float(block.hr_bpm[i]), self.settings.rest_hr_high_bpm
        return Finding(
            self.name, int(block.t_ms[i]),
            Severity.CRITICAL if hr >= limit + 30 else Severity.WARNING,
            float(news2_heart_rate(hr)), hr, limit,
            f"Heart rate {value_range(episode.lo, episode.hi, hr, ' bpm')} "
            f"{self._for_since(block, i, episode)}, above this patient's configured at-rest "
            f"limit of {limit:.0f} bpm; {self._context(block, i)}.",
            kind="tachycardia_at_rest",
        )

    def _news2(self, block: SampleBlock, i: int, episode: Episode) -> Finding:
        news = self._news2_at(block, i)
        red = any(v == 3 for v in news.subscores.values())
        reason = ("a single parameter scores 3" if red
                  else f"total ≥ {self.settings.news2_alert_total}")
        return Finding(
            self.name, int(block.t_ms[i]),
            Severity.CRITICAL if news.total >= 7 else Severity.WARNING,
            float(news.total), float(news.total), float(self.settings.news2_alert_total),
            f"The {news.describe()} has been at the configured alert level ({reason}) "
            f"{self._for_since(block, i, episode)}, scoring "
            f"{value_range(episode.lo, episode.hi, news.total, '')}; "
            f"{self._context(block, i)}.",
            kind="news2_partial",
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "settings": self.settings.to_state(),
            "timers": {k: timer.to_state() for k, timer in self.timers.items()},
            "emitted": self.emitted_ms,
            "episodes": {k: e.to_state() for k, e in self.episodes.items()},
            "last_hr": [self.last_hr_ms, self.last_hr_bpm],
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> ClinicalBands:
        bands = cls(settings=BandSettings.from_state(st["settings"]))
        for kind, timer in st.get("timers", {}).items():
            bands.timers[kind] = Timer.from_state(timer)
        bands.emitted_ms = {k: int(v) for k, v in st.get("emitted", {}).items()}
        bands.episodes = {k: Episode.from_state(e) for k, e in st["episodes"].items()}
        last = st.get("last_hr", [[-1, -1], [0.0, 0.0]])  # absent in states saved before it
        bands.last_hr_ms = [int(v) for v in last[0]]
        bands.last_hr_bpm = [float(v) for v in last[1]]
        return bands


def score_many(detectors: Sequence[ClinicalBands], block: SampleBlock, starts: IntArray
               ) -> list[list[Finding]]:
    """The bands of several patients at once (``detectors[k]`` scores
    ``block[starts[k]:starts[k + 1]]``).

    The usual case — no reading beyond any patient's limits and no timer running — is decided
    for all of them with a few array operations; a patient with something abnormal, or a
    condition in progress, gets the full ``score_samples``.
    """
    found: list[list[Finding]] = [[] for _ in detectors]
    if not len(block):
        return found
    sizes = np.diff(starts)
    segment = np.repeat(np.arange(len(detectors)), sizes)
    settings = [d.settings for d in detectors]
    hr_low = np.array([s.hr_low_bpm for s in settings])[segment]
    rest_high = np.array([s.rest_hr_high_bpm for s in settings])[segment]
    spo2_low = np.array([s.spo2_limit() for s in settings])[segment]
    hr = block.hr_bpm
    abnormal = (hr < hr_low) | (block.at_rest & (hr > rest_high)) | (block.spo2_pct < spo2_low)
    scored = np.flatnonzero(~np.isnan(block.spo2_pct) | ~np.isnan(block.resp_rate_brpm)
                            | ~np.isnan(block.skin_temp_c))
    if len(scored):
        abnormal[scored] |= _news2_alarm(block, scored, [settings[k] for k in segment[scored]])
    busy = np.zeros(len(detectors), dtype=bool)
    busy[segment[abnormal]] = True
    with_hr = np.maximum.accumulate(np.where(~np.isnan(hr), np.arange(len(hr)), -1))
    for k, detector in enumerate(detectors):
        running = any(timer.since_ms >= 0 for timer in detector.timers.values())
        lo, hi = int(starts[k]), int(starts[k + 1])
        if (busy[k] or running) and sizes[k]:
            found[k] = detector.score_samples(block.slice(lo, hi))
        elif sizes[k] and with_hr[hi - 1] >= lo:  # nothing abnormal: remember the readings
            last = int(with_hr[hi - 1])
            before = int(with_hr[last - 1]) if last > lo else -1
            if before >= lo:
                detector.last_hr_ms = [int(block.t_ms[before]), int(block.t_ms[last])]
                detector.last_hr_bpm = [float(hr[before]), float(hr[last])]
            else:
                detector.last_hr_ms = [detector.last_hr_ms[1], int(block.t_ms[last])]
                detector.last_hr_bpm = [detector.last_hr_bpm[1], float(hr[last])]
    return found


def _news2_alarm(block: SampleBlock, rows: np.ndarray, settings: Sequence[BandSettings]
                 ) -> BoolArray:
    """Whether the partial NEWS2 reaches a patient's alert level at ``rows`` (their settings)."""
    hr_counts = block.worn[rows] & (block.at_rest[rows] | ~block.has_steps[rows])
    scale2 = np.array([s.spo2_scale == 2 for s in settings])
    offset = np.array([np.nan if s.skin_temp_offset_c is None else s.skin_temp_offset_c
                       for s in settings])
    spo2 = block.spo2_pct[rows]
    stacked = np.vstack([
        _bands(np.where(hr_counts, block.hr_bpm[rows], np.nan), _HR_BANDS),
        np.where(scale2, _bands(spo2, _SPO2_SCALE2), _bands(spo2, _SPO2_SCALE1)),
        _bands(block.resp_rate_brpm[rows], _RESP_BANDS),
        _bands(block.skin_temp_c[rows] + offset, _TEMP_BANDS),
    ])
    total = np.nansum(stacked, axis=0)
    alert_total = np.array([s.news2_alert_total for s in settings])
    return (total >= alert_total) | np.any(stacked == 3, axis=0)
