"""When monitoring of a ward stops and starts again: the messages to the ward's on-call (pure).

No patient data: the ward's name and times only. One message when a delay opens and an all-clear
when it ends, each with its own idempotency key, delivered by the same ``Deliverer`` as the
alert messages (so retries, timeouts and the at-most-once mark are the same).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import apprise

from wearmon.stream.notify.outbox import Audience, OutboxRecord
from wearmon.stream.notify.render import Message

NOTICE = "monitoring"


def clock(t_ms: int, tz: str) -> str:
    """``HH:MM`` in the console's time zone.

    >>> clock(0, "UTC")
    '00:00'
    """
    return datetime.fromtimestamp(t_ms / 1000, ZoneInfo(tz)).strftime("%H:%M")


def delay_text(ward: str, since_ms: int, tz: str) -> str:
    """The console's banner and the message's first line.

    >>> delay_text("Ward A", 0, "UTC")
    'Monitoring of Ward A delayed since 00:00 (UTC) — readings after that time are not yet judged.'
    """
    return (f"Monitoring of {ward} delayed since {clock(since_ms, tz)} ({tz}) — readings after "
            "that time are not yet judged.")


def delayed_message(ward: str, since_ms: int, tz: str) -> Message:
    return Message(
        f"Monitoring delayed · {ward}",
        f"{delay_text(ward, since_ms, tz)} No alert can reach you for them until it is back: "
        "check your patients directly, and tell the on-call engineer. You will get an "
        "all-clear when monitoring is back.",
        apprise.NotifyType.FAILURE.value)


def restored_message(ward: str, since_ms: int, until_ms: int, tz: str) -> Message:
    return Message(
        f"Monitoring back · {ward}",
        f"Monitoring of {ward} is back (delayed {clock(since_ms, tz)}–{clock(until_ms, tz)}, "
        f"{tz}). Readings from the delay are being judged now; any alert among them reaches "
        "you as usual.",
        apprise.NotifyType.SUCCESS.value)


def notice_record(ward: str, since_ms: int, restored: bool, patient: str, recipient_id: str,
                  message: Message, now_ms: int) -> OutboxRecord:
    """One notice to one on-call recipient (``patient``: whose settings hold their address).

    >>> r = notice_record("Ward A", 5, False, "p-1", "nurse-a", Message("t", "b", "info"), 9)
    >>> r.key, r.step
    ('monitoring:Ward A:5|nurse-a|0', 0)
    """
    alert_id = f"{NOTICE}:{ward}:{since_ms}"
    step = 1 if restored else 0
    return OutboxRecord(key=f"{alert_id}|{recipient_id}|{step}", alert_id=alert_id,
                        patient=patient, recipient_id=recipient_id,
                        audience=Audience.CARE_TEAM, step=step, title=message.title,
                        body=message.body, notify_type=message.notify_type,
                        critical=not restored, created_ms=now_ms)
