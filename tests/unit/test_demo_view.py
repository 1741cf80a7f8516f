"""The demo's terminal lines: a repeated anomaly is printed once, then counted; the first
escalation is announced with its time; the summary counts what happened during the run."""

from __future__ import annotations

from wearmon.stream.datasets.simulator import Simulator
from wearmon.stream.tools.demo import ESCALATE_CRITICAL_S, escalation_line, events_so_far
from wearmon.stream.tools.demo_view import REPEAT_WINDOW_S, DemoView

ANOMALY = {"patient_id": "sim-007-0000", "kind": "tachycardia_at_rest", "severity": "critical",
           "explanation": "Heart rate 150 bpm for 2 min since 10:02"}


def test_a_repeated_anomaly_is_printed_once_with_a_count() -> None:
    view = DemoView()
    first = view.add_anomaly(ANOMALY, now_s=0)
    assert first == ("sim-007-0000 tachycardia_at_rest (critical): Heart rate 150 bpm for 2 "
                     "min since 10:02")
    assert [view.add_anomaly(ANOMALY, now_s=60 * k) for k in range(1, 8)] == [None] * 7
    assert view.recent == ["sim-007-0000 tachycardia_at_rest (critical) ×8"]
    assert view.repeated() == ["anomaly: sim-007-0000 tachycardia_at_rest (critical) again ×7 "
                               "(8 in all)"]
    assert view.repeated() == []  # said once
    other = view.add_anomaly({**ANOMALY, "severity": "warning"}, now_s=500)
    assert other is not None and "(warning)" in other
    later = view.add_anomaly(ANOMALY, now_s=420 + REPEAT_WINDOW_S + 1)  # a new episode
    assert later is not None
    assert view.anomalies["tachycardia_at_rest"] == 10  # every finding is counted


def test_the_start_says_when_the_first_alert_escalates() -> None:
    line = escalation_line(now_ms=0)
    assert line.startswith("Alerts open within the first minutes. One that nobody acknowledges "
                           f"goes to the charge nurse {ESCALATE_CRITICAL_S // 60} min after it "
                           "opens (critical; warnings after 10 min): the first at about ")
    assert ESCALATE_CRITICAL_S >= 300  # time to find the console, log in and act


def test_the_summary_counts_only_events_that_began_during_the_run() -> None:
    sim = Simulator(4, 0, 7 * 86_400, seed=7, event_every_s=1800.0)  # a week planned ahead
    planned = len(sim.labels)
    so_far = events_so_far(sim, until_ms=3_600_000)
    assert 0 < sum(so_far.values()) < planned / 20  # not the week the simulator planned
