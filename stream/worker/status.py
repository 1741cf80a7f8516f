"""What one worker has handled and whether it is keeping up: the truth behind ``/health``,
``/ready`` and the per-partition gauges of ``/metrics``.

Per telemetry partition: the next offset made durable, the partition's end (from the broker, at
least every few seconds), when it last advanced (wall clock) and the event time (broker
timestamp) of the last record handled. Lag is the end minus the next durable offset: what waits,
not what the last batch saw. ``reasons`` says in plain words why the worker is not ready.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TOTALS = ("uploads", "samples", "rejected", "duplicates", "anomalies", "alert_events",
          "skipped_seen")


@dataclass
class PartitionStatus:
    handled: int  # next offset whose predecessors are all durable
    since_s: float  # wall clock: last progress (or when the partition came)
    end: int | None = None  # the partition's end offset, as last seen
    last_event_ms: int | None = None  # broker timestamp of the last record handled
    rewinding_since_s: float | None = None  # the tracker is sending the consumer back

    @property
    def lag(self) -> int:
        return max(0, (self.end if self.end is not None else self.handled) - self.handled)


@dataclass
class WorkerStatus:
    worker_name: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    totals: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(TOTALS, 0)))
    partitions: dict[int, PartitionStatus] = field(default_factory=dict)
    broker_down_since_s: float | None = None
    directory_ready: bool = False

    # --- what the telemetry agent and its timer report ------------------------------------

    def assigned(self, offsets: dict[int, int], now_s: float | None = None) -> None:
        """Partitions this worker now holds, with their next expected offsets."""
        at = time.time() if now_s is None else now_s
        for partition, offset in offsets.items():
            if partition not in self.partitions:
                self.partitions[partition] = PartitionStatus(offset, at)

    def revoked(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.partitions.pop(partition, None)

    def handled(self, counts: Counter[str], offsets: dict[int, int],
                event_ms: dict[int, int], now_s: float | None = None) -> None:
        """A batch is durable: count it; its partitions advanced."""
        at = time.time() if now_s is None else now_s
        self.totals.update({k: v for k, v in counts.items() if k in TOTALS})
        for partition, offset in offsets.items():
            status = self.partitions.setdefault(partition, PartitionStatus(offset, at))
            if offset > status.handled:
                status.handled, status.since_s = offset, at
            if partition in event_ms:
                status.last_event_ms = event_ms[partition]

    def ends(self, ends: dict[int, int], now_s: float | None = None) -> None:
        """The broker answered with these end offsets."""
        self.broker_down_since_s = None
        for partition, end in ends.items():
            if partition in self.partitions:
                status = self.partitions[partition]
                if status.lag == 0 and end > status.handled:  # records just arrived: the wait
                    status.since_s = time.time() if now_s is None else now_s  # starts now
                status.end = end

    def broker_failed(self, now_s: float | None = None) -> None:
        if self.broker_down_since_s is None:
            self.broker_down_since_s = time.time() if now_s is None else now_s

    def rewinding(self, partitions: set[int], now_s: float | None = None) -> None:
        at = time.time() if now_s is None else now_s
        for partition, status in self.partitions.items():
            if partition not in partitions:
                status.rewinding_since_s = None
            elif status.rewinding_since_s is None:
                status.rewinding_since_s = at

    # --- what they tell -------------------------------------------------------------------

    def reasons(self, stall_s: float, now_s: float | None = None) -> list[str]:
        """Why this worker is not keeping up (empty: ready).

        >>> s = WorkerStatus(directory_ready=True)
        >>> s.assigned({0: 10}, now_s=0); s.ends({0: 25}, now_s=0)
        >>> s.reasons(stall_s=60, now_s=30)
        []
        >>> s.reasons(stall_s=60, now_s=90)
        ['partition 0: 15 records waiting, no progress for 90 s']
        """
        at = time.time() if now_s is None else now_s
        out = []
        if not self.directory_ready:
            out.append("starting: the patients directory is still being read")
        if self.broker_down_since_s is not None:
            out.append(f"broker unreachable for {at - self.broker_down_since_s:.0f} s")
        for partition, status in sorted(self.partitions.items()):
            if status.lag and at - status.since_s > stall_s:
                out.append(f"partition {partition}: {status.lag} records waiting, "
                           f"no progress for {at - status.since_s:.0f} s")
            if status.rewinding_since_s is not None and at - status.rewinding_since_s > stall_s:
                out.append(f"partition {partition}: the offset tracker has been going back "
                           f"for {at - status.rewinding_since_s:.0f} s")
        return out

    def health(self) -> dict[str, Any]:
        # next_offsets_total: the sum of the next telemetry offsets made durable, counted with
        # the totals (a test's "everything handled" signal)
        return {"worker": self.worker_name, **self.totals,
                "next_offsets_total": sum(p.handled for p in self.partitions.values()),
                "lag_messages": sum(p.lag for p in self.partitions.values())}

    def ready(self, stall_s: float) -> dict[str, Any]:
        reasons = self.reasons(stall_s)
        return {"ready": not reasons, "worker": self.worker_name, "reasons": reasons,
                "partitions": {str(p): {"handled": s.handled, "end": s.end, "lag": s.lag,
                                        "last_progress_s": s.since_s,
                                        "last_event_ms": s.last_event_ms}
                               for p, s in sorted(self.partitions.items())}}
