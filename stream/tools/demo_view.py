"""The demo's live view: patients, alerts, anomalies and inbox arrivals, from the topics.

``DemoView`` keeps the counts and recent lines (a rich table on a terminal, plain lines
otherwise); ``watch`` feeds it from the anomalies, rejected and alerts topics.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.table import Table

from wearmon.stream.config import Settings
from wearmon.stream.kafka import client_options
from wearmon.stream.tools.demo_inbox import InboxMessage


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
    messages: int = 0
    header: str = ""

    def note(self, line: str) -> str:
        self.recent = [*self.recent[-7:], line]
        return line

    def add_alert(self, event: dict[str, object]) -> str:
        action = str(event["action"])
        self.alert_actions[action] += 1
        if event["actor"] != "system":
            self.acted_by[f"{action} by {event['actor']}"] += 1
        alerts = self.alerts_by_patient.setdefault(str(event["patient"]), {})
        alerts[str(event["kind"])] = str(event["state"])
        return self.note(f"ALERT {event['patient']} {event['kind']} ({event['severity']}): "
                         f"{action} -> {event['state']}")

    def add_anomaly(self, record: dict[str, object]) -> str:
        kind = str(record["kind"])
        self.anomalies[kind] += 1
        self.by_patient.setdefault(str(record["patient_id"]), []).append(kind)
        return self.note(f"{record['patient_id']} {kind} ({record['severity']}): "
                         f"{record['explanation']}")

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
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=300)
            for tp, messages in batches.items():
                for msg in messages:
                    record = orjson.loads(msg.value)
                    if tp.topic == settings.topics.anomalies:
                        line = "anomaly: " + view.add_anomaly(record)
                    elif tp.topic == settings.topics.alerts:
                        line = view.add_alert(record)
                    else:
                        view.rejected[record["reason"]] += 1
                        continue
                    if not live:
                        console.print(line, markup=False, highlight=False)
    finally:
        await consumer.stop()
