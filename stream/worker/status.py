"""What one worker has handled, for ``/health``: totals of durable batches and the next
telemetry offset of each partition it holds."""

from __future__ import annotations

import os
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TOTALS = ("uploads", "samples", "rejected", "duplicates", "anomalies", "alert_events", "points",
          "skipped_seen", "sink_refused")


@dataclass
class WorkerStatus:
    worker_name: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    totals: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(TOTALS, 0)))
    next_offsets: dict[int, int] = field(default_factory=dict)  # telemetry partition → handled

    def handled(self, counts: Counter[str], offsets: dict[int, int]) -> None:
        """A batch is durable: count it and show its partitions' next offsets."""
        self.totals.update(counts)
        self.next_offsets.update(offsets)

    def health(self) -> dict[str, Any]:
        # next_offsets_total: the sum of the next telemetry offsets to process, counted with the
        # totals once a batch is durable (a test's "everything handled" signal)
        return {"worker": self.worker_name, **self.totals,
                "next_offsets_total": sum(self.next_offsets.values())}
