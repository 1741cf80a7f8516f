"""What the console shows, without services: the order of the alert list, the banner when
nobody is left to page, resolved alerts, and the patient page's charts (fixed clinical scales,
the patient's limits, alert markers at their time, a default window that shows the data), and
what each account sees (its wards)."""

from __future__ import annotations

import re
from dataclasses import replace

from pydantic import SecretStr

from wearmon.models.base import Severity
from wearmon.stream.alerts.board import AlertBoard, AlertCard
from wearmon.stream.alerts.lifecycle import SYSTEM, Action, AlertEvent, AlertState, Category
from wearmon.stream.console.access.accounts import Account
from wearmon.stream.console.access.scope import board_mark, visible_cards, visible_wards
from wearmon.stream.console.board_view import Refs, alert_row, illness_budget_text, open_rows
from wearmon.stream.console.charts.nights import nights_chart
from wearmon.stream.console.charts.page import alert_periods
from wearmon.stream.console.charts.vitals import (
    MINUTE_MS,
    AlertPeriod,
    default_window,
    vital_charts,
)
from wearmon.stream.console.context import templates
from wearmon.stream.core.patients import AlertPolicy, PatientSettings, Recipient, Thresholds

NOW = 1_772_460_000_000
REFS = Refs(b"k" * 32)
SETTINGS = PatientSettings(
    patient_id="p-0001", ward="Ward 5", thresholds=Thresholds(hr_low_bpm=35),
    care_team=[Recipient(id="nurse", label="Ward 5 nurse", url=SecretStr("json://127.0.0.1/n")),
               Recipient(id="charge", label="Charge nurse", url=SecretStr("json://127.0.0.1/c"))],
    policy=AlertPolicy(max_repeats=1))


def event(alert_id: str, action: Action, state: AlertState, at_ms: int, step: int, *,
          severity: Severity = Severity.CRITICAL, kind: str = "bradycardia", level: int = 0,
          actor: str = SYSTEM, levels: tuple[int, ...] = (0,), due_ms: int | None = None
          ) -> AlertEvent:
    return AlertEvent(alert_id, "p-0001", kind, severity, state, at_ms, actor, "", step, action,
                      Category.CLINICAL, level=level, notify_levels=levels,
                      explanation="Heart rate 33 bpm", opened_ms=NOW - 20 * MINUTE_MS,
                      due_ms=due_ms)


def card(*events: AlertEvent) -> AlertCard:
    board = AlertBoard()
    for e in events:
        board.apply_event(e)
    return board.cards[events[0].alert_id]


def test_unacknowledged_alerts_come_before_acknowledged_ones_whatever_their_severity() -> None:
    acked = card(event("a", Action.OPENED, AlertState.OPEN, NOW - 20 * MINUTE_MS, 0),
                 event("a", Action.ACKNOWLEDGED, AlertState.ACKNOWLEDGED, NOW - MINUTE_MS, 1,
                       actor="nurse.jo"))
    escalated = card(
        event("b", Action.OPENED, AlertState.OPEN, NOW - 10 * MINUTE_MS, 0,
              severity=Severity.WARNING, kind="tachycardia_at_rest"),
        event("b", Action.ESCALATED, AlertState.ESCALATED, NOW - 5 * MINUTE_MS, 1,
              severity=Severity.WARNING, kind="tachycardia_at_rest", level=1, levels=(1,),
              due_ms=NOW + MINUTE_MS))
    rows = open_rows([acked, escalated], {"p-0001": SETTINGS}, REFS, NOW, "UTC",
                     {"nurse.jo": "Jo Smith (RN)"})
    assert [(r.kind, r.needs_action) for r in rows] == [("Tachycardia at rest", True),
                                                        ("Bradycardia", False)]
    assert rows[1].state_by == "Jo Smith (RN)"
    html = templates().get_template("_alert_rows.html").render(
        rows=rows[:1], in_hand=rows[1:], exhausted=0, ward="", csrf="t")
    needs, _, in_hand = html.partition('<details class="in-hand"')
    assert "Tachycardia at rest" in needs and "Bradycardia" not in needs
    assert "1 in hand</strong> (acknowledged or snoozed) by Jo Smith (RN)" in in_hand
    assert "<button" not in in_hand and "/ack" not in in_hand  # no Acknowledge once someone has it


def test_nobody_left_to_page_is_a_banner() -> None:
    opened = event("c", Action.OPENED, AlertState.OPEN, NOW - 20 * MINUTE_MS, 0)
    escalated = event("c", Action.ESCALATED, AlertState.ESCALATED, NOW - 15 * MINUTE_MS, 1,
                      level=1, levels=(1,), due_ms=NOW - 10 * MINUTE_MS)
    reminded = event("c", Action.REPEATED, AlertState.ESCALATED, NOW - 10 * MINUTE_MS, 2,
                     level=1, levels=(1,), due_ms=NOW + MINUTE_MS)
    last = alert_row(card(opened, escalated, reminded), SETTINGS, REFS, NOW, "UTC", {})
    assert last.exhausted and last.next_step == "nobody left to page"  # the next due is the end
    done = event("c", Action.EXHAUSTED, AlertState.ESCALATED, NOW, 3, level=1, levels=())
    row = alert_row(card(opened, escalated, reminded, done), SETTINGS, REFS, NOW, "UTC", {})
    assert row.exhausted
    html = templates().get_template("_alert_rows.html").render(
        rows=[row], in_hand=[], exhausted=1, ward="", csrf="t")
    assert html.count('class="banner exhausted') == 2 and 'role="alert"' in html
    assert "Nobody left to page" in html and "no more reminders will be sent" in html
    acked = event("c", Action.ACKNOWLEDGED, AlertState.ACKNOWLEDGED, NOW + 1, 4,
                  actor="nurse.jo", level=1, levels=(0, 1))
    assert not alert_row(card(opened, escalated, reminded, done, acked), SETTINGS, REFS, NOW,
                         "UTC", {}).exhausted


def test_a_resolved_alert_says_how_long_it_was_open() -> None:
    row = alert_row(card(event("d", Action.OPENED, AlertState.OPEN, NOW - 20 * MINUTE_MS, 0),
                         event("d", Action.RESOLVED, AlertState.RESOLVED, NOW - 8 * MINUTE_MS,
                               1)), SETTINGS, REFS, NOW, "UTC", {})
    assert not row.active and row.ended == "13:52, after 12 min"
    html = templates().get_template("_alert_facts.html").render(row=row, trail=[])
    assert "Resolved</dt><dd class=\"ended\">13:52, after 12 min" in html
    assert "Open for" not in html


def test_an_info_alert_in_its_hold_says_when_the_care_team_is_told() -> None:
    held = card(event("e", Action.OPENED, AlertState.OPEN, NOW - MINUTE_MS, 0,
                      severity=Severity.INFO, kind="battery_low", levels=(),
                      due_ms=NOW + 9 * MINUTE_MS))
    row = alert_row(held, SETTINGS, REFS, NOW, "UTC", {})
    assert row.next_step == "the care team is told in 9 min if it is still there"
    assert row.suggestion == "Remind the patient to charge the device."


def test_the_default_window_shows_the_data_and_active_alerts() -> None:
    assert default_window(NOW - 25 * MINUTE_MS, NOW, []) == "30m"
    assert default_window(NOW - 45 * MINUTE_MS, NOW, []) == "1h"
    assert default_window(NOW - 30 * 24 * 60 * MINUTE_MS, NOW, []) == "6h"
    assert default_window(NOW - 25 * MINUTE_MS, NOW, [NOW - 3 * 60 * MINUTE_MS]) == "6h"


def test_charts_use_fixed_clinical_scales_limits_and_alert_markers() -> None:
    hr = [(NOW - 25 * MINUTE_MS + k * 12_000, 47.0 + k % 3) for k in range(125)]
    opened = NOW - 6 * MINUTE_MS
    [heart, spo2, *_] = vital_charts({"hr_bpm": hr}, SETTINGS,
                                     [AlertPeriod("bradycardia", "critical", opened, None)],
                                     "30m", NOW, "Europe/London", MINUTE_MS)
    # 47–49 bpm is not stretched over the chart: the scale stays 30–180 bpm
    assert [label for _, label in heart.y_ticks] == ["30", "60", "90", "120", "150", "180"]
    assert {limit.value for limit in heart.limits} == {35.0, 120.0}  # the patient's own low limit
    [span] = heart.spans
    assert span.x_pct == 80.0 and span.opened_ms == opened  # 24 of 30 minutes
    assert heart.summary.startswith("latest 48 bpm at ")
    assert "lowest 47, highest 49 bpm" in heart.summary and "Bradycardia (critical)" in \
        heart.summary
    assert spo2.empty.startswith("No SpO2 readings in the last 30 minutes")
    html = templates().get_template("_chart.html").render(c=heart, window_text="30 minutes")
    assert re.search(r'class="limit" data-value="35.0"', html)
    assert f'data-opened-ms="{opened}"' in html and ">180 bpm</text>" in html
    assert "style=" not in html  # the Content-Security-Policy forbids inline styles


def test_alert_periods_come_from_the_board_and_older_ones_from_influxdb() -> None:
    rows = [{"time": NOW - 90 * MINUTE_MS, "alert_id": "old", "kind": "desaturation",
             "severity": "warning", "state": "open"},
            {"time": NOW - 80 * MINUTE_MS, "alert_id": "old", "kind": "desaturation",
             "severity": "critical", "state": "escalated"},
            {"time": NOW - 70 * MINUTE_MS, "alert_id": "old", "kind": "desaturation",
             "severity": "critical", "state": "resolved"}]
    live = card(event("now", Action.OPENED, AlertState.OPEN, NOW - 20 * MINUTE_MS, 0))
    periods = {p.kind: p for p in alert_periods(rows, [live])}
    assert periods["desaturation"] == AlertPeriod("desaturation", "critical",
                                                  NOW - 90 * MINUTE_MS, NOW - 70 * MINUTE_MS)
    assert periods["bradycardia"].ended_ms is None


def test_nightly_resting_heart_rate_against_the_baseline() -> None:
    day = 24 * 60 * MINUTE_MS
    midnight = NOW - NOW % day
    hourly = [(midnight - d * day + h * 60 * MINUTE_MS, 58.0 + (8 if d < 2 else 0))
              for d in range(7) for h in range(1, 6)]
    chart = nights_chart(hourly, (58.0, 2.0), "UTC", NOW)
    assert len(chart.x_ticks) == 7 and chart.band is not None
    assert "personal baseline 58 ± 4 bpm (2 SD)" in chart.summary
    assert "above the baseline band: " in chart.summary and chart.summary.count("66") == 2


def test_the_marker_sits_on_the_readings_that_opened_the_alert() -> None:
    """A device that synced late: the alert opened now, on readings of 12 minutes ago."""
    late = AlertEvent("f", "p-0001", "bradycardia", Severity.CRITICAL, AlertState.OPEN, NOW,
                      SYSTEM, "", 0, Action.OPENED, Category.CLINICAL, notify_levels=(0,),
                      event_ms=NOW - 12 * MINUTE_MS, opened_ms=NOW)
    [period] = alert_periods([], [card(late)])
    assert period.opened_ms == NOW - 12 * MINUTE_MS
    row = alert_row(card(late), SETTINGS, REFS, NOW, "UTC", {})
    assert (row.opened, row.readings_from) == ("14:00", "13:48")


def test_sparse_readings_are_one_line_and_a_lone_reading_a_dot() -> None:
    """SpO2 once a minute in 12-second buckets is still one line; a reading alone shows."""
    spo2 = [(NOW - 20 * MINUTE_MS + k * MINUTE_MS, 97.0) for k in range(15)]
    [_, chart, *_] = vital_charts({"spo2_pct": [*spo2, (NOW - MINUTE_MS // 2, 95.0)]}, SETTINGS,
                                  [], "30m", NOW, "UTC", MINUTE_MS)
    assert chart.path.count("M") == 2  # the 15 readings, and the one after a 5-minute silence
    assert chart.path.endswith("M98.33 25.0 L98.33 25.0")  # a dot: a segment onto itself


def test_an_account_sees_its_wards_and_follows_only_their_changes() -> None:
    other = SETTINGS.model_copy(update={"patient_id": "p-0002", "ward": "Ward 7"})
    patients = {"p-0001": SETTINGS, "p-0002": other}
    board = AlertBoard()
    board.apply_event(event("a5", Action.OPENED, AlertState.OPEN, NOW, 0))
    seven = replace(event("a7", Action.OPENED, AlertState.OPEN, NOW, 0), patient="p-0002")
    board.apply_event(seven)
    board.apply_event(replace(seven, alert_id="a-none", patient="p-0404"))
    nurse = Account("jo", "Jo", "", wards=("Ward 5",))
    admin = Account("al", "Al", "", admin=True)
    assert [c.alert_id for c in visible_cards(nurse, board.cards.values(), patients)] == ["a5"]
    assert len(visible_cards(admin, board.cards.values(), patients)) == 3  # also no ward known
    assert visible_wards(nurse, ["Ward 5", "Ward 7"]) == ["Ward 5"]
    mark = board_mark(visible_cards(nurse, board.cards.values(), patients))
    board.apply_event(replace(event("a7", Action.ESCALATED, AlertState.ESCALATED, NOW + 1, 1,
                                    level=1), patient="p-0002"))
    assert board_mark(visible_cards(nurse, board.cards.values(), patients)) == mark
    board.apply_event(event("a5", Action.ESCALATED, AlertState.ESCALATED, NOW + 1, 1, level=1))
    assert board_mark(visible_cards(nurse, board.cards.values(), patients)) != mark


def test_the_patient_page_says_what_the_wards_illness_budget_means() -> None:
    others = [SETTINGS.model_copy(update={"patient_id": f"p-{i:04d}"}) for i in range(2, 41)]
    elsewhere = SETTINGS.model_copy(update={"patient_id": "p-0099", "ward": "Ward 6"})
    text = illness_budget_text(SETTINGS, [SETTINGS, *others, elsewhere])
    assert text.startswith("Ward 5: With 40 patients and a budget of 0.5 false illness "), text
    assert "about 4.7 illness alerts a week" in text and "% of illness onsets" in text
    generous = SETTINGS.model_copy(update={"policy": AlertPolicy(
        illness_alarm_budget_per_30d=1.5)})
    assert "With 1 patient and a budget of 1.5" in illness_budget_text(generous, [generous])
    no_ward = SETTINGS.model_copy(update={"ward": ""})
    assert illness_budget_text(no_ward, [SETTINGS]) == ""
    assert illness_budget_text(None, [SETTINGS]) == ""
