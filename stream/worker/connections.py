"""What every agent of a worker waits for before its first record: the patients directory (the
settings of every enrolled patient, read from the patients topic)."""

from __future__ import annotations

from wearmon.stream.config import Settings
from wearmon.stream.log_privacy import quiet_libraries
from wearmon.stream.views.patients import PatientsView


class Connections:
    def __init__(self, settings: Settings) -> None:
        self.directory = PatientsView(settings)
        self.started = False

    async def ready(self) -> None:
        """Wait until the patients' settings have been read."""
        if not self.started:
            self.started = True
            quiet_libraries()  # again: Faust's logging set-up ran after the command's
        await self.directory.wait_ready()

    async def stop(self) -> None:
        await self.directory.stop()
