"""Irregular rhythm: MIT-BIH AF records (leave-one-record-out) and normal sinus rhythm records.

* ``afdb``: the rhythm thresholds are chosen per record on the *other* records: each grid
  setting's decisions come from ``IrregularRhythm.score_beats`` on a record's beats (the
  stream's code, all beats as one block: the detector gives the same decisions whatever the
  upload boundaries), pooled over the other records, and the best balanced time accuracy wins.
  The record is then replayed through ``process()`` with that setting and scored.
* ``nsr``: sinus rhythm only; replayed with the shipped thresholds (chosen on AFDB, other
  people: ``fixed-defaults``). Every AF decision and alert is false.

Records have no clock time (they start at 2000-01-01 UTC); rhythm does not depend on it.
With ``baselines`` the nRMSSD rule (``anchors.nrmssd_rule``) decides on the same beats.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from wearmon.models.base import BeatBlock, BoolArray, IntArray
from wearmon.models.rhythm import ENTROPY_THRESHOLD, NRMSSD_THRESHOLD, IrregularRhythm
from wearmon.models.suite import PatientModels
from wearmon.stream import datasets
from wearmon.stream.core.pipeline import PatientState
from wearmon.stream.evaluation import anchors, protocol, rhythm_metrics
from wearmon.stream.evaluation.runs.patient_run import Alert, PatientRun, alerts_of
from wearmon.stream.evaluation.runs.results import PatientResult, limit, replay_with_progress

Setting = tuple[float, float]  # (nRMSSD threshold, word-entropy threshold)
NRMSSD_GRID = (0.04, 0.06, 0.08, 0.10, 0.12)
ENTROPY_GRID = (0.90, 0.92, 0.93, 0.94, 0.95, 0.96)
GRID: tuple[Setting, ...] = tuple(product(NRMSSD_GRID, ENTROPY_GRID))
SHIPPED: Setting = (NRMSSD_THRESHOLD, ENTROPY_THRESHOLD)
ALERT_AFTER_MS = IrregularRhythm().alert_after_ms
TIME_BASE = "records have no clock time: they start at 2000-01-01 UTC (replay time zone UTC)"


def _detector(setting: Setting) -> IrregularRhythm:
    return IrregularRhythm(nrmssd_threshold=setting[0], entropy_threshold=setting[1])


def _named(setting: Setting) -> dict[str, float]:
    return {"nrmssd_threshold": setting[0], "entropy_threshold": setting[1]}


def _state(setting: Setting) -> PatientState:
    return PatientState(models=PatientModels(rhythm=_detector(setting)))


def _decisions(setting: Setting, beats: BeatBlock) -> BoolArray:
    return _detector(setting).score_beats(beats)[1]


def _rhythm_arrays(run: PatientRun) -> tuple[IntArray, IntArray, BoolArray]:
    rt = run.rhythm
    return (np.array(rt.t_ms, dtype=np.int64), np.array(rt.span_ms, dtype=np.int64),
            np.array(rt.irregular, dtype=bool))


def _time_counts(counts: dict[str, Any]) -> protocol.Counts:
    return {k: float(counts[f"{k}_s"]) for k in ("tp", "fp", "tn", "fn")}


def decision_alerts(t_ms: IntArray, irregular: BoolArray, name: str,
                    alert_after_ms: int = ALERT_AFTER_MS) -> list[Alert]:
    """Alerts from a decision at each beat, counted like Wearmon's: once irregular for
    ``alert_after_ms``, one alert per episode (episodes less than an hour apart are one).

    >>> t = np.arange(0, 3_600_000, 1_000)
    >>> len(decision_alerts(t, (t > 600_000) & (t < 1_200_000), "x"))
    1
    """
    flips = np.flatnonzero(np.diff(np.concatenate(([0], irregular.astype(np.int8), [0]))))
    starts, ends = flips[::2], flips[1::2] - 1
    alerts = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        if t_ms[e] - t_ms[s] >= alert_after_ms:
            at = int(t_ms[s]) + alert_after_ms
            alerts.append(Alert(f"anchor:{name}", name, "warning", at, int(t_ms[e]), 1, name))
    merged: list[Alert] = []
    for a in alerts:
        if merged and a.start_ms - merged[-1].end_ms <= 3_600_000:
            last = merged.pop()
            a = Alert(last.detector, last.kind, last.severity, last.start_ms, a.end_ms,
                      last.findings + 1, last.explanation)
        merged.append(a)
    return merged


def afdb(root: Path, progress: Progress, max_patients: int | None, baselines: bool
         ) -> tuple[dict[str, Any], list[PatientResult]]:
    records = limit(datasets.list_patients("afdb", root), max_patients)
    task = progress.add_task("afdb: grid on each record", total=len(records))
    columns, af, episodes, per_record = {}, {}, {}, {}
    for rec in records:
        columns[rec] = datasets.load_patient("afdb", root, rec, plausible_only=True).columns()
        episodes[rec] = datasets.afdb_episodes(root, rec)
        af[rec] = [(e.start_ms, e.end_ms) for e in episodes[rec] if e.rhythm == "AFIB"]
        beats = columns[rec].beats()
        per_record[rec] = {s: _time_counts(rhythm_metrics.rhythm_counts(
            beats.t_ms, beats.rr_ms, _decisions(s, beats), af[rec])) for s in GRID}
        progress.advance(task)
    loo = len(records) > 1
    chosen = (protocol.leave_one_out(per_record, protocol.best_balanced_accuracy) if loo
              else dict.fromkeys(records, SHIPPED))
    shipped = protocol.best_balanced_accuracy(protocol.pooled(per_record, records))
    task = progress.add_task("afdb: replay each record", total=len(records))
    rows, anchor_rows, results = [], [], []
    for rec in records:
        run = replay_with_progress(progress, rec, columns[rec], 60_000, _state(chosen[rec]))
        t, span, irregular = _rhythm_arrays(run)
        row = rhythm_metrics.afdb_record(rec, rhythm_metrics.rhythm_counts(
            t, span, irregular, af[rec]))
        row.update(setting=_named(chosen[rec]), state_bytes=run.state_bytes)
        anchor_alerts: list[Alert] = []
        if baselines:
            decided = anchors.nrmssd_rule(span)
            arow = rhythm_metrics.afdb_record(rec, rhythm_metrics.rhythm_counts(
                t, span, decided, af[rec]))
            anchor_rows.append(arow)
            row["baselines"] = {"nrmssd_rule": {k: arow[k] for k in ("sensitivity",
                                                                     "specificity")}}
            anchor_alerts = decision_alerts(t, decided, "nrmssd_rule")
        rows.append(row)
        results.append(PatientResult(
            run, alerts_of(run.findings), row, anchor_alerts=anchor_alerts,
            windows=[(e.start_ms, e.end_ms, e.rhythm) for e in episodes[rec] if e.rhythm != "N"]))
        progress.advance(task)
    result: dict[str, Any] = {
        "protocol": protocol.LEAVE_ONE_OUT if loo else protocol.FIXED,
        "protocol_note": (
            "Leave-one-record-out: each record is scored with the nRMSSD and word-entropy "
            f"thresholds chosen on the other records (grid nRMSSD {list(NRMSSD_GRID)} x entropy "
            f"{list(ENTROPY_GRID)}, best balanced time accuracy); window, stride, hysteresis and "
            "symbol width are fixed defaults. The anchor uses its paper's setting."),
        **rhythm_metrics.afdb_summary(rows),
        "shipped_settings": {"chosen_on_all_records": _named(shipped),
                             "in_code": _named(SHIPPED)},
        "time_base": TIME_BASE,
        "per_record": rows,
        "subgroups": {"note": "AFDB has no demographics (age, sex) or device subgroups"},
        "published": {
            "sensitivity": 0.9737,
            "specificity": 0.9844,
            "source": "Zhou et al., PLoS ONE 2015 (RR-interval detector, beat-level, tuned on "
                      "another database)",
        },
    }
    if baselines:
        result["baselines"] = {"nrmssd_rule": rhythm_metrics.afdb_summary(anchor_rows)}
    return result, results


def nsr(root: Path, progress: Progress, max_patients: int | None, baselines: bool
        ) -> tuple[dict[str, Any], list[PatientResult]]:
    records = limit(datasets.list_patients("nsr", root), max_patients)
    task = progress.add_task("nsr records", total=len(records))
    rows, anchor_rows, results = [], [], []
    for rec in records:
        series = datasets.load_patient("nsr", root, rec, plausible_only=True)
        run = replay_with_progress(progress, rec, series.columns(), 60_000, _state(SHIPPED))
        t, span, irregular = _rhythm_arrays(run)
        alerts = alerts_of(run.findings)
        af_alerts = sum(1 for a in alerts if a.detector == "irregular_rhythm")
        row = rhythm_metrics.nsr_record(rec, span, irregular, af_alerts)
        row["state_bytes"] = run.state_bytes
        anchor_alerts: list[Alert] = []
        if baselines:
            decided = anchors.nrmssd_rule(span)
            anchor_alerts = decision_alerts(t, decided, "nrmssd_rule")
            arow = rhythm_metrics.nsr_record(rec, span, decided, len(anchor_alerts))
            anchor_rows.append(arow)
            row["baselines"] = {"nrmssd_rule": {k: arow[k] for k in ("af_alerts",
                                                                     "time_specificity")}}
        rows.append(row)
        results.append(PatientResult(run, alerts, row, anchor_alerts=anchor_alerts))
        progress.advance(task)
    result: dict[str, Any] = {
        "protocol": protocol.FIXED,
        "protocol_note": ("The shipped rhythm thresholds (chosen on the MIT-BIH AF database, "
                          "other people); nothing is fitted on these records."),
        **rhythm_metrics.nsr_summary(rows),
        "time_base": TIME_BASE,
        "per_record": rows,
        "subgroups": {"note": "no demographics in these files"},
    }
    if baselines:
        result["baselines"] = {"nrmssd_rule": rhythm_metrics.nsr_summary(anchor_rows)}
    return result, results
