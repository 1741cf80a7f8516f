"""A patient's recent history from InfluxDB (InfluxQL on ``/query``): vitals, steps, the alert
timeline with the care team's actions, and for the nights view the hourly resting heart rate and
the personal baseline. Read-only; runs on InfluxDB 1.x, 2.x and 3.x.

Patient ids are checked against the contract's pattern before they go into a query; windows
and buckets are whole numbers from the console's own table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from wearmon.stream.config import Settings
from wearmon.stream.core.schema import PATIENT_ID_PATTERN

Series = list[tuple[int, float]]  # (t_ms, value)
VITAL_FIELDS = ("hr_bpm", "spo2_pct", "resp_rate_brpm", "skin_temp_c")
NIGHTS_DAYS = 8


@dataclass
class PatientHistory:
    vitals: dict[str, Series] = field(default_factory=dict)  # field name (and "steps") → series
    timeline: list[dict[str, Any]] = field(default_factory=list)  # newest first
    resting_hourly: Series = field(default_factory=list)  # mean HR at rest per hour (nights)
    baseline: list[tuple[int, float, float]] = field(default_factory=list)  # (t, mean, sd)
    error: str = ""  # shown instead of the charts when InfluxDB cannot answer


def where(patient: str, minutes: int) -> str:
    if not re.fullmatch(PATIENT_ID_PATTERN, patient):
        raise ValueError("not a patient id")
    return f"\"patient\" = '{patient}' AND time > now() - {int(minutes)}m"


def queries(patient: str, minutes: int, bucket_s: int, steps_bucket_s: int, nights: bool
            ) -> dict[str, str]:
    """Named InfluxQL statements, sent as one request."""
    w = where(patient, minutes)
    means = ", ".join(f'mean("{f}") AS "{f}"' for f in VITAL_FIELDS)
    named = {
        "vitals": f'SELECT {means} FROM "vitals" WHERE {w} '
                  f"GROUP BY time({int(bucket_s)}s) fill(none)",
        "steps": f'SELECT sum("steps") FROM "rollup_1m" WHERE {w} '
                 f"GROUP BY time({int(steps_bucket_s)}s) fill(none)",
        "alerts": f'SELECT "title", "state", "action", "alert_id", "kind", "severity" '
                  f'FROM "alert" WHERE {w} ORDER BY time DESC LIMIT 500',
        "audit": f'SELECT "actor", "action", "note", "alert_id" FROM "alert_audit" '
                 f"WHERE {w} ORDER BY time DESC LIMIT 200",
    }
    if nights:
        n = where(patient, NIGHTS_DAYS * 1440)
        named["resting"] = (f'SELECT mean("hr_mean_bpm") FROM "rollup_1m" WHERE {n} AND '
                            '"steps" = 0 GROUP BY time(1h) fill(none)')
        named["baseline"] = (f'SELECT "resting_hr_bpm", "resting_hr_sd_bpm" FROM "baseline" '
                             f"WHERE {n} ORDER BY time DESC LIMIT 1")
    return named


def first_data_queries(patient: str, days: int = 7) -> list[str]:
    """When the patient's data in the last ``days`` begins (one statement per vital)."""
    w = where(patient, days * 1440)
    return [f'SELECT first("{f}") FROM "vitals" WHERE {w}' for f in ("hr_bpm", "spo2_pct")]


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for series in result.get("series", []):
        columns = series["columns"]
        out += [dict(zip(columns, row, strict=True)) for row in series.get("values", [])]
    return out


def column(result: dict[str, Any], name: str, scale: float = 1.0) -> Series:
    return [(int(r["time"]), float(r[name]) * scale) for r in rows(result)
            if r.get(name) is not None]


def history_of(named: dict[str, dict[str, Any]], steps_bucket_s: int) -> PatientHistory:
    """The answers of ``queries`` as a ``PatientHistory`` (steps per minute)."""
    vitals = {f: column(named.get("vitals", {}), f) for f in VITAL_FIELDS}
    vitals["steps"] = column(named.get("steps", {}), "sum", 60.0 / steps_bucket_s)
    audit = {(r["alert_id"], r["time"]): r for r in rows(named.get("audit", {}))}
    timeline = []
    for row in rows(named.get("alerts", {})):
        by = audit.get((row["alert_id"], row["time"]), {})
        timeline.append({**row, "actor": by.get("actor", ""), "note": by.get("note", "")})
    baseline = [(int(r["time"]), float(r["resting_hr_bpm"]), float(r["resting_hr_sd_bpm"]))
                for r in rows(named.get("baseline", {}))
                if r.get("resting_hr_bpm") is not None and r.get("resting_hr_sd_bpm") is not None]
    return PatientHistory(vitals=vitals, timeline=timeline,
                          resting_hourly=column(named.get("resting", {}), "mean"),
                          baseline=baseline)


class InfluxReader:
    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session
        self._params = {"db": settings.influx.db, "epoch": "ms"}
        self._headers: dict[str, str] = {}
        if settings.influx.token is not None:
            self._headers["Authorization"] = f"Token {settings.influx.token.get_secret_value()}"
        elif settings.influx.username:
            secret = settings.influx.password
            self._params.update(u=settings.influx.username,
                                p=secret.get_secret_value() if secret is not None else "")

    async def _query(self, statements: list[str]) -> list[dict[str, Any]] | str:
        """The results of the statements, or an error to show."""
        if not self._settings.influx.url:
            return "InfluxDB is not configured (WEARMON_INFLUX_URL)"
        params = {**self._params, "q": ";".join(statements)}
        try:
            async with self._session.get(
                    f"{self._settings.influx.url}/query", params=params, headers=self._headers,
                    timeout=aiohttp.ClientTimeout(total=self._settings.influx.timeout_s)) as resp:
                if resp.status != 200:
                    return f"InfluxDB answered HTTP {resp.status}"
                body = await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"InfluxDB is not reachable ({type(exc).__name__})"
        return list(body.get("results", []))

    async def patient(self, patient: str, minutes: int, bucket_s: int, steps_bucket_s: int,
                      nights: bool = False) -> PatientHistory:
        named = queries(patient, minutes, bucket_s, steps_bucket_s, nights)
        results = await self._query(list(named.values()))
        if isinstance(results, str):
            return PatientHistory(error=results)
        return history_of(dict(zip(named, results, strict=False)), steps_bucket_s)

    async def first_data_ms(self, patient: str) -> int | None:
        """When the patient's vitals of the last 7 days begin (None: none, or no answer)."""
        results = await self._query(first_data_queries(patient))
        if isinstance(results, str):
            return None
        times = [int(r["time"]) for result in results for r in rows(result)]
        return min(times) if times else None
