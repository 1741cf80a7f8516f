"""The demo's live view: patients, alerts, anomalies and inbox arrivals, from the topics.

``DemoView`` keeps the counts and recent lines (a rich table on a terminal, plain lines
otherwise); ``watch`` feeds it from the anomalies, rejected and alerts topics. A detector repeats
its finding about once a minute while a condition lasts: the same anomaly of the same patient is
printed once, then counted ("×8" in the table, one "again ×N" line every 30 s in plain output).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.table import Table

from wearmon.stream.config import Settings
from wearmon.stream.core.records import Unreadable, read_json
from wearmon.stream.kafka import client_options
from wearmon.stream.tools.demo_inbox import InboxMessage

REPEAT_WINDOW_S = 600.0  # a repeat within this of the last one is counted, not printed
REPEAT_REPORT_S = 30.0  # plain output: how often the counts of repeats are printed


@dataclass(slots=True)
class Repeats:
    """One anomaly (patient, kind, severity) seen again: how often, and how often printed."""

    line: str  # as first printed, without the count
    count: int = 1
    reported: int = 1
    last_s: float = 0.0


@dataclass
class DemoView:
    """What the live view and the summary show; fed from the topics and the inbox."""

    anomalies: Counter[str] = field(default_factory=Counter)
    by_patient: dict[str, list[str]] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    recent: list[str] = field(default_factory=list)
    alert_actions: Counter[str] = field(default_factory=Counter)
    alerts_by_patient: dict[str, dict[str, str]] = field(default_factory=dict)
    acted_by: Counter[str] = field(default_factory=Counter)
    opened: set[str] = field(default_factory=set)  # alert ids opened during the run
    repeats: dict[tuple[str, str, str], Repeats] = field(default_factory=dict)
    messages: int = 0
    unreadable: int = 0  # records that were not what their topic holds
    header: str = ""

    def note(self, line: str) -> str:
        self.recent = [*self.recent[-7:], line]
        return line

    def add_alert(self, event: dict[str, object]) -> str:
        action = str(event["action"])
        self.alert_actions[action] += 1
        if action == "opened":
            self.opened.add(str(event["alert_id"]))
        if event["actor"] != "system":
            self.acted_by[f"{action} by {event['actor']}"] += 1
        alerts = self.alerts_by_patient.setdefault(str(event["patient"]), {})
        alerts[str(event["kind"])] = str(event["state"])
        return self.note(f"ALERT {event['patient']} {event['kind']} ({event['severity']}): "
                         f"{action} -> {event['state']}")

    def add_anomaly(self, record: dict[str, object], now_s: float | None = None) -> str | None:
        """The line to print, or None when it repeats an anomaly printed a moment ago."""
        now_s = time.monotonic() if now_s is None else now_s
        kind, patient = str(record["kind"]), str(record["patient_id"])
        self.anomalies[kind] += 1
        self.by_patient.setdefault(patient, []).append(kind)
        key = (patient, kind, str(record["severity"]))
        seen = self.repeats.get(key)
        if seen is not None and now_s - seen.last_s <= REPEAT_WINDOW_S:
            seen.count += 1
            seen.last_s = now_s
            counted = f"{seen.line} ×{seen.count}"
            self.recent = [counted if r.startswith(seen.line) else r for r in self.recent]
            return None
        line = f"{patient} {kind} ({record['severity']})"
        self.repeats[key] = Repeats(line, last_s=now_s)
        return self.note(f"{line}: {record['explanation']}")

    def repeated(self) -> list[str]:
        """For plain output: how often each printed anomaly came again since last said."""
        lines = []
        for seen in self.repeats.values():
            if seen.count > seen.reported:
                lines.append(f"anomaly: {seen.line} again ×{seen.count - seen.reported} "
                             f"({seen.count} in all)")
                seen.reported = seen.count
        return lines

    def add_message(self, message: InboxMessage) -> str:
        self.messages += 1
        return self.note(f"INBOX to {message.recipient}: {message.title}")

    def table(self, produced: int) -> Table:
        table = Table(title=f"Wearmon demo — {produced} uploads sent", expand=True)
        table.add_column("patient")
        table.add_column("alerts (state)")
        table.add_column("anomalies")
        for patient in sorted(self.by_patient.keys() | self.alerts_by_patient.keys()):
            kinds = Counter(self.by_patient.get(patient, []))
            alerts = self.alerts_by_patient.get(patient, {})
            table.add_row(patient, ", ".join(f"{k}: {v}" for k, v in alerts.items()),
                          ", ".join(f"{k}×{n}" for k, n in kinds.items()))
        table.caption = "\n".join([self.header, *self.recent[-4:]])
        return table



async def watch(settings: Settings, view: DemoView, console: Console, live: bool,
                 stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        settings.topics.anomalies, settings.topics.rejected, settings.topics.alerts,
        **client_options(settings), auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    reported_s = time.monotonic()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=300)
            for tp, messages in batches.items():
                for msg in messages:
                    line = show(view, settings, tp.topic, msg.value)
                    if line is not None and not live:
                        console.print(line, markup=False, highlight=False)
            if not live and time.monotonic() - reported_s >= REPEAT_REPORT_S:
                reported_s = time.monotonic()
                for line in view.repeated():
                    console.print(line, markup=False, highlight=False)
    finally:
        await consumer.stop()


def show(view: DemoView, settings: Settings, topic: str, value: bytes | None) -> str | None:
    """One record into the view; the line to print, if any. A record that is not what its topic
    holds (a tombstone, not JSON, a missing field) is counted in ``view.unreadable``.

    >>> view = DemoView()
    >>> [show(view, Settings(), "wearmon.alerts", v) for v in (None, b"\\xff", b"[]", b"{}")]
    [None, None, None, None]
    >>> view.unreadable
    4
    """
    try:
        record = read_json(value, dict)
        if topic == settings.topics.anomalies:
            line = view.add_anomaly(record)
            return None if line is None else "anomaly: " + line
        if topic == settings.topics.alerts:
            return view.add_alert(record)
        view.rejected[str(record["reason"])] += 1
    except (Unreadable, KeyError):
        view.unreadable += 1
    return None
