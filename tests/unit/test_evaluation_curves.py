"""Operating curves, the alarm budget and the verdict: constructed cases, and the shipped
population curve against the code that made it."""

from __future__ import annotations

import json

import pytest

from tests.unit.datadir import DATA_DIR, require
from wearmon.models import alarm_budget
from wearmon.models.alarm_budget import (
    DEFAULT_BUDGET,
    CurvePoint,
    alert_score_for_budget,
    budget_summary,
    point_for_budget,
    population_curve,
)
from wearmon.models.slow import ALERT_SCORE, SCORE_VERSION
from wearmon.stream.core.patients import AlertPolicy, PatientSettings, SettingsError
from wearmon.stream.evaluation import curves
from wearmon.stream.evaluation.runs.illness_curves import ALERT_SCORE_GRID, wearmon_counts
from wearmon.stream.evaluation.verdict import verdict


def counts(detected: int, false_days: int, events: int = 1, monitored: int = 30
           ) -> dict[str, float]:
    return {"events": events, "detected": detected, "false_days": false_days,
            "monitored_days": monitored}


def test_a_curve_pools_people_per_threshold() -> None:
    per = {"a": {1: counts(1, 2), 2: counts(0, 0)}, "b": {1: counts(1, 1), 2: counts(1, 0)}}
    points = curves.operating_curve(per, [1, 2], [11, 11])
    assert [(p["detected"], p["events"], p["false_alert_days_per_30d"]) for p in points] == [
        (2, 2, 1.5), (1, 2, 0.0)]
    assert 0 < points[0]["chance_sensitivity"] < 1 and points[1]["chance_sensitivity"] == 0


def test_the_leave_one_out_curve_never_chooses_on_the_person_scored() -> None:
    # "c" alone would pick threshold 1 at a budget of 1.0; without "c" the others pick 2
    per = {
        "a": {1: counts(1, 3), 2: counts(1, 0)},
        "b": {1: counts(1, 3), 2: counts(1, 0)},
        "c": {1: counts(1, 0), 2: counts(0, 0)},
    }
    point = curves.leave_one_out_curve(per, [11] * 3, budgets=[1.0])[0]
    assert point["chosen"] == [2]
    assert point["detected"] == 2  # c is scored at 2, where it misses its onset
    pooled_only = curves.leave_one_out_curve(per, [11] * 3, budgets=[1.0],
                                             pool={"other": {1: counts(5, 0), 2: counts(1, 0)}})
    assert pooled_only[0]["chosen"] == [1]  # chosen on the pool alone


def test_sensitivity_at_reads_the_upper_envelope() -> None:
    pts = [{"false_alert_days_per_30d": 0.4, "sensitivity": 0.3},
           {"false_alert_days_per_30d": 0.6, "sensitivity": 0.2},  # dominated: ignored
           {"false_alert_days_per_30d": 1.2, "sensitivity": 0.5}]
    assert curves.sensitivity_at(pts, 0.6) == 0.3
    # the dominated point keeps its rate at the best sensitivity so far: (0.6, 0.3)
    assert curves.sensitivity_at(pts, 0.8) == pytest.approx(0.3 + 0.2 * (0.2 / 0.6), abs=1e-4)
    assert curves.sensitivity_at(pts, 0.2) == 0.15  # from (0, 0)
    assert curves.sensitivity_at(pts, 3.0) == 0.5
    area = curves.area(pts)
    assert area["mean_sensitivity"] == pytest.approx(area["value"] / 1.25, abs=1e-4)


def test_a_cliff_is_a_large_loss_for_a_small_cut() -> None:
    pts = [{"threshold": t, "detected": d, "false_alert_days_per_30d": f}
           for t, d, f in ((1, 12, 1.0), (2, 7, 0.8), (3, 5, 0.5))]
    assert [(c["from"], c["to"]) for c in curves.cliffs(pts)] == [(1, 2)]  # 12→7 for −20 %
    smooth = [{"threshold": t, "detected": d, "false_alert_days_per_30d": f}
              for t, d, f in ((1, 12, 1.0), (2, 9, 0.8), (3, 5, 0.5))]
    assert curves.cliffs(smooth) == []


def test_the_budget_picks_the_most_sensitive_threshold_within_it() -> None:
    pts = (CurvePoint(2.0, 30, 50, 60, 1000), CurvePoint(3.0, 20, 50, 15, 1000),
           CurvePoint(3.5, 20, 50, 12, 1000), CurvePoint(4.0, 10, 50, 3, 1000))
    assert point_for_budget(0.5, pts).alert_score == 3.5  # 3.0 and 3.5 tie: fewer false alerts
    assert point_for_budget(0.1, pts).alert_score == 4.0
    assert point_for_budget(0.01, pts).alert_score == 4.0  # nothing within: the strictest
    assert point_for_budget(2.0, pts).alert_score == 2.0


def test_the_shipped_curve_matches_the_code() -> None:
    doc = alarm_budget.curve_document()
    assert doc["score_version"] == SCORE_VERSION
    assert tuple(p.alert_score for p in population_curve()) == ALERT_SCORE_GRID
    assert alert_score_for_budget(DEFAULT_BUDGET) == ALERT_SCORE
    assert AlertPolicy().illness_alert_score() == ALERT_SCORE
    scores = [alert_score_for_budget(b) for b in (0.1, 0.25, 0.5, 1.0, 2.0, 3.0)]
    assert scores == sorted(scores, reverse=True)  # a larger budget never raises the threshold


def test_a_ward_budget_in_words() -> None:
    s = budget_summary(1.0, 30)
    assert s["false_alerts_per_week"] == 7.0 and s["alert_score"] == alert_score_for_budget(1.0)
    assert 0 < s["expected_sensitivity"] < 1
    assert "30 patients" in s["text"] and "7 illness alerts a week" in s["text"]


def test_the_budget_is_a_validated_policy_setting() -> None:
    base = {"patient_id": "p-0001", "care_team": [{"id": "n", "url": "json://127.0.0.1/h"}]}
    s = PatientSettings.from_json({**base, "policy": {"illness_alarm_budget_per_30d": 1.5}})
    assert s.policy.illness_alert_score() == alert_score_for_budget(1.5)
    with pytest.raises(SettingsError, match="illness_alarm_budget_per_30d"):
        PatientSettings.from_json({**base, "policy": {"illness_alarm_budget_per_30d": 40}})


def test_the_verdict_compares_at_equal_alarm_rates() -> None:
    result = {"sensitivity_at": {"0.5": 0.3, "1.0": 0.4}, "cliffs": [],
              "sensitivity": 0.3, "all_detectors_false_alert_days_per_30d": 1.2,
              "baselines": {"nightsignal": {"sensitivity_at": {"0.5": 0.2, "1.0": 0.45},
                                            "sensitivity": 0.5}}}
    rows = verdict("stanford", result)
    assert [r["met"] for r in rows] == [True, False, True, False, False]
    assert rows[1]["published_rule"].startswith("NightSignal")
    assert json.dumps(rows)  # plain JSON


@pytest.mark.data
@pytest.mark.slow
def test_the_shipped_curve_is_what_the_evaluation_fits_on_covid_daily() -> None:
    from wearmon.stream import datasets
    from wearmon.stream.evaluation.runs.illness_run import covid_person, daily_values

    root = require(DATA_DIR / "covid-daily").parent
    people = [datasets.load_covid_daily(root, p) for p in datasets.covid_daily_people(root)]
    per = wearmon_counts([covid_person(s, daily_values(s)) for s in people])
    fitted = curves.operating_curve(per, ALERT_SCORE_GRID, [])
    shipped = alarm_budget.curve_document()["points"]
    assert [(p["detected"], p["false_days"], p["monitored_days"]) for p in fitted] == [
        (p["detected"], p["false_days"], p["monitored_days"]) for p in shipped]


def test_each_mechanism_of_the_score_is_measured_on_its_own() -> None:
    from wearmon.models.base import Day
    from wearmon.stream.evaluation.runs.illness_curves import Person
    from wearmon.stream.evaluation.runs.mechanisms import VARIANTS, table

    def person(name: str, rise: float) -> Person:
        days = [Day(d, (d + 1) * 86_400_000, 60 + (d % 3) + (rise if 40 <= d < 43 else 0),
                    300, 8000, 900) for d in range(60)]

        def score(alert_days: list[int]) -> dict[str, float]:
            return {"events": 1, "detected": float(any(33 <= d <= 43 for d in alert_days)),
                    "false_days": float(sum(d < 30 for d in alert_days)),
                    "monitored_days": 30.0}

        return Person(name, days, score, [11])

    people = [person(f"p{i}", rise) for i, rise in enumerate((2.0, 6.0, 12.0))]
    rows = table(people[:1], people)
    assert [r["variant"] for r in rows] == [v for v, _ in VARIANTS]
    shipped = rows[0]["covid_daily"]
    assert set(shipped) == {"sensitivity_at_0.5", "sensitivity_at_1.0",
                            "mean_sensitivity_0.25_1.5", "cliffs"}
    assert 0 <= shipped["sensitivity_at_1.0"] <= 1
