"""Results -> InfluxDB line protocol, written in awaited batches (schema: docs/influx-schema.md).

Writes go to ``POST /write?db=…&precision=ms``: the one endpoint that InfluxDB 1.x, 2.x (db is
mapped to the bucket) and 3.x all accept. influxdb-client always writes to ``/api/v2/write``,
which 1.6/1.7 lack, so it serves here for correct line protocol of the low-rate measurements
(``Point``) while raw vitals are formatted directly (~10x cheaper per point). Points are
idempotent: same sample -> same series and timestamp.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

import aiohttp
from influxdb_client import Point, WritePrecision

from wearmon.stream.alerts.lifecycle import ACTIVE, AlertEvent
from wearmon.stream.config import Settings
from wearmon.stream.core.pipeline import Result
from wearmon.stream.core.validation import Rejection

if TYPE_CHECKING:
    from wearmon.stream.notify.deliver import DeliveryResult

log = logging.getLogger(__name__)
_VITAL_FIELDS = ("hr_bpm", "spo2_pct", "resp_rate_brpm", "skin_temp_c")
_STATUS_CODE = {"ok": 0, "attention": 1, "alert": 2, "cant_assess": 3}


class InfluxRejectedError(RuntimeError):
    """InfluxDB refused the data itself (4xx): retrying the same batch cannot succeed."""


def _point(measurement: str, t_ms: int) -> Point:
    return Point(measurement).time(t_ms, WritePrecision.MS)


def vitals_lines(result: Result) -> list[str]:
    """Native-rate vitals and beat times, formatted directly (ids match safe patterns)."""
    up = result.upload
    tags = f"patient={up.patient_id},device={up.device_id}"
    lines = []
    for s in up.samples:
        fields = [f"{name}={value!r}" for name in _VITAL_FIELDS
                  if (value := getattr(s, name)) is not None]
        if s.steps is not None:
            fields.append(f"steps={s.steps}i")
        if fields:
            lines.append(f"vitals,{tags} {','.join(fields)} {s.t_ms}")
        beat_ms = s.t_ms
        for rr in s.rr_ms:
            lines.append(f"beats,{tags} rr_ms={rr}i {beat_ms}")
            beat_ms += rr
    return lines


def result_lines(result: Result) -> list[str]:
    """Everything one processed upload produces, as line protocol."""
    patient = result.upload.patient_id
    lines = vitals_lines(result)
    points: list[Point] = []
    for r in result.rollups:
        p = _point("rollup_1m", r.minute_ms).tag("patient", patient)
        if r.hr_n:
            p.field("hr_mean_bpm", r.hr_mean).field("hr_min_bpm", r.hr_min)
            p.field("hr_max_bpm", r.hr_max).field("hr_samples", r.hr_n)
        if r.steps_n:
            p.field("steps", r.steps)
        if r.spo2_n:
            p.field("spo2_mean_pct", r.spo2_mean).field("spo2_min_pct", r.spo2_min)
        if r.hr_n or r.steps_n or r.spo2_n:
            points.append(p)
    for f in result.findings:
        p = _point("anomaly", f.t_ms).tag("patient", patient).tag("detector", f.detector)
        p.tag("kind", f.kind).tag("severity", f.severity.value).field("score", float(f.score))
        p.field("observed", float(f.observed)).field("explanation", f.explanation)
        if f.baseline is not None:
            p.field("baseline", float(f.baseline))
        points.append(p)
    if result.baseline is not None:
        t_ms, mean, sd = result.baseline
        points.append(_point("baseline", t_ms).tag("patient", patient)
                      .field("resting_hr_bpm", mean).field("resting_hr_sd_bpm", sd))
    q = result.quality
    if q is not None:
        p = _point("quality", q.t_ms).tag("patient", patient).tag("device", result.upload.device_id)
        p.field("samples", q.samples).field("worn_samples", q.worn_samples)
        p.field("dropped", q.dropped).field("sync_lag_s", q.sync_lag_s)
        p.field("status", q.status.value).field("status_code", _STATUS_CODE[q.status.value])
        if q.battery_pct is not None:
            p.field("battery_pct", q.battery_pct)
        points.append(p)
    lines.extend(p.to_line_protocol() for p in points)
    return lines


def rejection_line(rejection: Rejection) -> str:
    p = _point("rejected", rejection.received_ms).tag("reason", rejection.reason)
    p.tag("partial", str(rejection.partial).lower())
    p.field("count", len(rejection.issues)).field("field", rejection.field)
    return str(p.to_line_protocol())


def alert_title(event: AlertEvent) -> str:
    """Nurse-readable, no vitals: e.g. "Tachycardia: escalated (critical)"."""
    kind = event.kind.replace("_", " ").capitalize()
    return f"{kind}: {event.action.value.replace('_', ' ')} ({event.severity.value})"


def alert_line(event: AlertEvent) -> str:
    """One alert lifecycle event; microsecond timestamp ``at_ms * 1000 + step`` (write with
    ``precision="us"``) so several transitions of one alert in the same millisecond stay apart.
    ``code``: 2 while the alert is active, 0 once resolved (the dashboards' status codes)."""
    p = Point("alert").time(event.at_ms * 1000 + min(event.step, 999), WritePrecision.US)
    p.tag("patient", event.patient).tag("kind", event.kind).tag("category", event.category.value)
    p.tag("severity", event.severity.value).tag("state", event.state.value)
    p.tag("action", event.action.value)
    p.field("alert_id", event.alert_id).field("title", alert_title(event))
    p.field("step", event.step).field("level", event.level)
    p.field("code", 2 if event.state in ACTIVE else 0)
    return str(p.to_line_protocol())


def notification_line(result: DeliveryResult) -> str:
    """One delivery result (no content). Microsecond timestamp ``at_ms * 1000 + n`` with ``n``
    from the idempotency key (write with ``precision="us"``) so results in one millisecond stay
    apart; ``status`` is a tag (the pipeline dashboard groups by it)."""
    p = Point("notification").time(
        result.at_ms * 1000 + zlib.crc32(result.key.encode()) % 1000, WritePrecision.US)
    p.tag("patient", result.patient).tag("audience", result.audience.value)
    p.tag("status", result.status.value).tag("recipient_id", result.recipient_id)
    p.field("alert_id", result.alert_id).field("step", result.step)
    p.field("attempts", result.attempts).field("latency_ms", result.latency_ms)
    if result.error:
        p.field("error", result.error)
    return str(p.to_line_protocol())


def pipeline_line(worker: str, t_ms: int, counts: dict[str, float]) -> str:
    p = _point("pipeline", t_ms).tag("worker", worker)
    for name, value in counts.items():
        p.field(name, value)
    return str(p.to_line_protocol())


class InfluxWriter:
    """Awaited batch writes with retry and backoff; a batch returns only once it is durable."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session
        self._url = f"{settings.influx_url}/write"
        self._params = {"db": settings.influx_db, "precision": "ms"}
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if settings.influx_token is not None:
            self._headers["Authorization"] = f"Token {settings.influx_token.get_secret_value()}"
        elif settings.influx_username:
            secret = settings.influx_password
            password = secret.get_secret_value() if secret is not None else ""
            self._params.update(u=settings.influx_username, p=password)

    async def ensure_database(self) -> None:
        """``CREATE DATABASE`` (idempotent) on 1.x; 2.x/3.x create buckets/dbs themselves."""
        params = {k: v for k, v in self._params.items() if k in ("u", "p")}
        params["q"] = f'CREATE DATABASE "{self._settings.influx_db}"'
        await self._post(f"{self._settings.influx_url}/query", params, b"", "CREATE DATABASE")

    async def write(self, lines: Iterable[str], precision: str = "ms") -> int:
        """Write lines; retry transient failures until they are durable. Returns points written.

        Transient failures (connection errors, 5xx, 429) block and retry: backpressure instead of
        loss. A 4xx means InfluxDB refuses the data itself and raises ``InfluxRejectedError``.
        """
        body = "\n".join(lines)
        if not body:
            return 0
        count = body.count("\n") + 1
        await self._post(self._url, {**self._params, "precision": precision}, body.encode(),
                         "write")
        return count

    async def _post(self, url: str, params: dict[str, str], body: bytes, what: str,
                    max_backoff_s: float = 10.0) -> None:
        delay_s = 0.2
        timeout = aiohttp.ClientTimeout(total=self._settings.influx_timeout_s)
        while True:
            try:
                async with self._session.post(url, params=params, data=body,
                                              headers=self._headers, timeout=timeout) as resp:
                    if resp.status in (200, 204):
                        return
                    if 400 <= resp.status < 500 and resp.status != 429:
                        # InfluxDB's error text can quote the data (vitals): not for the logs.
                        raise InfluxRejectedError(f"InfluxDB refused {what}: HTTP {resp.status}")
                    log.warning("InfluxDB %s failed (HTTP %s); retrying in %.1f s",
                                what, resp.status, delay_s)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("InfluxDB unreachable (%s); retrying in %.1f s",
                            type(exc).__name__, delay_s)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, max_backoff_s)
