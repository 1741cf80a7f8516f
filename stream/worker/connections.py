"""The worker's connections that are opened once, when the first agent needs them: the InfluxDB
writer (and its HTTP session) and the patients directory, which every agent waits for."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from wearmon.stream.config import Settings
from wearmon.stream.log_privacy import quiet_libraries
from wearmon.stream.sinks.influx import InfluxWriter
from wearmon.stream.views.patients import PatientsView
from wearmon.stream.worker.metrics import TimedWriter

log = logging.getLogger(__name__)


class Connections:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.directory = PatientsView(settings)
        self.influx: TimedWriter | None = None  # None: results are not stored in InfluxDB
        self.session: aiohttp.ClientSession | None = None
        self.started = False
        self.start_lock = asyncio.Lock()

    async def ready(self) -> None:
        """Open the InfluxDB writer once and wait until the patients' settings have been read."""
        async with self.start_lock:
            if not self.started:
                await self.start()
        await self.directory.wait_ready()

    async def start(self) -> None:
        self.started = True
        quiet_libraries()  # again: Faust's logging set-up ran after the command's
        if not self.settings.influx.url:
            log.warning("WEARMON_INFLUX_URL is not set: results are not stored in InfluxDB")
            return
        self.session = aiohttp.ClientSession()
        influx = InfluxWriter(self.settings, self.session)
        self.influx = TimedWriter(influx)
        if self.settings.influx.create_db:
            await influx.ensure_database()

    def influx_retries(self) -> int:
        return self.influx.inner.retries if self.influx is not None else 0

    async def stop(self) -> None:
        await self.directory.stop()
        if self.session is not None:
            await self.session.close()
