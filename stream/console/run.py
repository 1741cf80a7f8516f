"""``wearmon console``: start the care-team console next to the workers and serve until stopped.

It needs the broker (the alerts view and the commands), ``WEARMON_CONSOLE_SECRET_KEY`` (shared
with the workers, which sign the message links with it) and the accounts file; InfluxDB is
optional (the patient page says when it cannot show history). The accounts file is re-read
whenever it changes (``account_store``). The access log is off: signed link tokens stay out of
the logs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from wearmon.stream.config import ConfigError, Settings
from wearmon.stream.console.access.account_store import AccountStore
from wearmon.stream.console.access.accounts import AccountError
from wearmon.stream.console.context import Console
from wearmon.stream.console.history import InfluxReader
from wearmon.stream.console.server import create_app
from wearmon.stream.console.watch import WardWatch
from wearmon.stream.kafka import ensure_topics, make_producer
from wearmon.stream.notify.next_steps import next_steps_of
from wearmon.stream.views.alerts_feed import AlertsFeed
from wearmon.stream.views.patients import PatientsView

log = logging.getLogger(__name__)


def load_console_accounts(settings: Settings) -> AccountStore:
    try:
        return AccountStore(Path(settings.console.users_file))
    except AccountError as exc:
        raise ConfigError(f"{exc} (WEARMON_CONSOLE_USERS_FILE)") from None


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM)."""
    secret = settings.console.secret()
    settings.require_broker()
    accounts = load_console_accounts(settings)
    next_steps = next_steps_of(settings.notify)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()

    async def send(command: dict[str, Any]) -> None:
        await (await producer.send(settings.topics.alert_commands, orjson.dumps(command),
                                   key=str(command["patient"]).encode()))

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        await (await producer.send(topic, value, key=key))

    feed, patients = AlertsFeed(settings, send), PatientsView(settings)
    feed.start()
    patients.start()
    watch = WardWatch(settings, patients, publish)
    watching = asyncio.create_task(watch.run(), name="ward-watch")
    session = aiohttp.ClientSession()
    console = Console(settings, feed, patients, accounts, secret, InfluxReader(settings, session),
                      watch=watch, next_steps=next_steps)
    runner = web.AppRunner(create_app(console), access_log=None, shutdown_timeout=5)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.console.host, settings.console.port).start()
        log.info("care-team console on %s:%d (public URL %s), %d accounts",
                 settings.console.host, settings.console.port, settings.console.url,
                 len(accounts.accounts()))
        await stop.wait()
    finally:
        watching.cancel()
        await runner.cleanup()
        await feed.stop()
        await patients.stop()
        await session.close()
        await producer.stop()
