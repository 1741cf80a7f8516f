"""The worker's consumer asks the broker for the configured fetch wait, not Faust's fixed 1.5 s.

``worker.faust_consumer.use_worker_consumer`` sets aiokafka's ``_fetch_max_wait_ms`` on the
consumer Faust creates (Faust hard-codes the keyword). These tests fail if a Faust or aiokafka
upgrade moves what that relies on.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer

from wearmon.stream.tools.workers import settings_from
from wearmon.stream.worker.app import new_app


def test_aiokafka_keeps_the_fetch_wait_where_the_worker_sets_it() -> None:
    async def created() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=321)

    consumer = asyncio.run(created())
    assert consumer._fetch_max_wait_ms == 321  # what its fetcher is built with at start()


def test_the_worker_consumer_gets_the_configured_fetch_wait() -> None:
    settings = settings_from({"WEARMON_BROKER": "kafka://127.0.0.1:1",
                              "WEARMON_FETCH_MAX_WAIT_MS": "123"})

    async def worker_consumer() -> AIOKafkaConsumer:
        app = new_app(settings)
        thread = app.consumer._thread  # type: ignore[attr-defined]  # Faust's aiokafka driver
        consumer: AIOKafkaConsumer = thread._create_worker_consumer(app.transport)
        return consumer

    assert asyncio.run(worker_consumer())._fetch_max_wait_ms == 123
