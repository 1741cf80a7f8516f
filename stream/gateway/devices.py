"""The devices topic (``WEARMON_TOPIC_DEVICES``): issue and revoke tokens, read the registry.

Why a topic: every gateway needs every grant, revocations must reach all of them within a second,
and the deployment already runs Kafka, so no other store is needed; this follows the patients
topic. The topic holds digests only (``tokens``): reading it does not let anyone upload.
"""

from __future__ import annotations

import asyncio
import time

from wearmon.stream.config import Settings
from wearmon.stream.gateway.tokens import Grant, Registry, issue
from wearmon.stream.kafka import ensure_topics, make_producer
from wearmon.stream.views.follow import TopicFollower


def registry_view(settings: Settings) -> tuple[Registry, TopicFollower]:
    """A registry kept up to date by following the devices topic (``await view.wait_ready()``)."""
    registry = Registry()
    return registry, TopicFollower(settings, [settings.topics.devices],
                                   lambda _topic, key, value: registry.apply(key, value),
                                   "devices-view")


async def read_registry(settings: Settings, timeout_s: float = 60.0) -> Registry:
    """Every current grant, read once (for the CLI)."""
    registry, view = registry_view(settings)
    try:
        await asyncio.wait_for(view.wait_ready(), timeout_s)
    finally:
        await view.stop()
    return registry


async def publish(settings: Settings, records: dict[str, bytes | None]) -> None:
    """Write grants (or tombstones) by device id and wait for the broker's acknowledgements."""
    await ensure_topics(settings, extra=[settings.topics.devices])
    producer = make_producer(settings)
    await producer.start()
    try:
        futures = [await producer.send(settings.topics.devices, value, key=device_id.encode())
                   for device_id, value in records.items()]
        for future in futures:
            await future
    finally:
        await producer.stop()


async def issue_tokens(settings: Settings, devices: dict[str, str]) -> dict[str, str]:
    """Issue (or rotate) a token per device (``{device_id: patient_id}``); returns the tokens."""
    now_ms = int(time.time() * 1000)
    issued = {device: issue(device, patient, now_ms) for device, patient in devices.items()}
    await publish(settings, {device: grant.to_bytes() for device, (_, grant) in issued.items()})
    return {device: token for device, (token, _) in issued.items()}


async def issue_token(settings: Settings, device_id: str, patient_id: str) -> tuple[str, Grant]:
    """Issue (or rotate) one device's token; returns the token, to be shown once."""
    token, grant = issue(device_id, patient_id, now_ms=int(time.time() * 1000))
    await publish(settings, {device_id: grant.to_bytes()})
    return token, grant


async def revoke_token(settings: Settings, device_id: str) -> None:
    await publish(settings, {device_id: None})
