"""How much of the gateway one device or one address may hold, and how long a request may take.

A request holds a slot of its device (token) and one of its client address from the moment its
headers are read until it is answered; beyond ``per_device`` or ``per_address`` slots it is
answered ``429`` at once, before its body is read. The gateway-wide ``max_inflight`` counts only
uploads whose body has arrived (waiting for validation and the broker): bodies still on their
way cannot fill it. Bodies must arrive as ``body_deadline_s`` says.

>>> slots = Occupancy(per_device=2, per_address=3)
>>> slots.enter("watch-1", "10.0.0.1"), slots.enter("watch-1", "10.0.0.1")
(None, None)
>>> slots.enter("watch-1", "10.0.0.1")
'device_busy'
>>> slots.enter("watch-2", "10.0.0.1"), slots.enter("watch-3", "10.0.0.1")
(None, 'address_busy')
>>> slots.leave("watch-1", "10.0.0.1"); slots.enter("watch-3", "10.0.0.1") is None
True
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from wearmon.stream.config import Settings


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """A body's size bound and pace: ``timeout_s`` plus one second per ``min_bytes_per_s``."""

    max_bytes: int
    timeout_s: float
    min_bytes_per_s: int

    @classmethod
    def of(cls, settings: Settings) -> BodyLimits:
        return cls(settings.uploads.max_upload_bytes, settings.gateway.body_timeout_s,
                   settings.gateway.min_body_bytes_per_s)

    def deadline_s(self, started_s: float, received_bytes: int) -> float:
        """When a body that started at ``started_s`` must have arrived, given what has.

        >>> BodyLimits(1000, 10.0, 500).deadline_s(100.0, 1500)
        113.0
        """
        return started_s + self.timeout_s + received_bytes / self.min_bytes_per_s


class Occupancy:
    """Requests in progress by device and by client address."""

    def __init__(self, per_device: int, per_address: int) -> None:
        self.per_device = per_device
        self.per_address = per_address
        self.devices: Counter[str] = Counter()
        self.addresses: Counter[str] = Counter()

    def enter(self, device_id: str, address: str) -> str | None:
        """Take a slot of both; returns None, or why not (``device_busy``, ``address_busy``)."""
        if self.devices[device_id] >= self.per_device:
            return "device_busy"
        if self.addresses[address] >= self.per_address:
            return "address_busy"
        self.devices[device_id] += 1
        self.addresses[address] += 1
        return None

    def leave(self, device_id: str, address: str) -> None:
        for counter, key in ((self.devices, device_id), (self.addresses, address)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]  # the counters hold only what is in progress
