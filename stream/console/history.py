"""A patient's last hours from InfluxDB (InfluxQL on ``/query``): heart rate, SpO2, steps and
the alert timeline with the care team's actions. Read-only; runs on InfluxDB 1.x, 2.x and 3.x.

Patient ids are checked against the contract's pattern before they go into a query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from wearmon.stream.config import Settings
from wearmon.stream.core.schema import PATIENT_ID_PATTERN

Series = list[tuple[int, float]]  # (t_ms, value)


@dataclass
class PatientHistory:
    hr_bpm: Series = field(default_factory=list)
    spo2_pct: Series = field(default_factory=list)
    steps: Series = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # newest first
    error: str = ""  # shown instead of the charts when InfluxDB cannot answer


def queries(patient: str, hours: int) -> dict[str, str]:
    if not re.fullmatch(PATIENT_ID_PATTERN, patient):
        raise ValueError("not a patient id")
    where = f"\"patient\" = '{patient}' AND time > now() - {int(hours)}h"
    bucket = f"{max(1, hours * 60 // 120)}m"  # about 120 points per chart
    return {
        "hr_bpm": f'SELECT mean("hr_bpm") FROM "vitals" WHERE {where} '
                  f"GROUP BY time({bucket}) fill(none)",
        "spo2_pct": f'SELECT mean("spo2_pct") FROM "vitals" WHERE {where} '
                    f"GROUP BY time({bucket}) fill(none)",
        "steps": f'SELECT sum("steps") FROM "rollup_1m" WHERE {where} '
                 f"GROUP BY time({bucket}) fill(0)",
        "alerts": f'SELECT "title", "state", "action", "alert_id" FROM "alert" WHERE {where} '
                  "ORDER BY time DESC LIMIT 200",
        "audit": f'SELECT "actor", "action", "note", "alert_id" FROM "alert_audit" '
                 f"WHERE {where} ORDER BY time DESC LIMIT 200",
    }


def _rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for series in result.get("series", []):
        columns = series["columns"]
        out += [dict(zip(columns, row, strict=True)) for row in series.get("values", [])]
    return out


def _series(result: dict[str, Any]) -> Series:
    return [(int(r["time"]), float(value)) for r in _rows(result)
            if (value := next(v for k, v in r.items() if k != "time")) is not None]


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

    async def patient(self, patient: str, hours: int) -> PatientHistory:
        if not self._settings.influx.url:
            return PatientHistory(error="InfluxDB is not configured (WEARMON_INFLUX_URL)")
        named = queries(patient, hours)
        params = {**self._params, "q": ";".join(named.values())}
        try:
            async with self._session.get(
                    f"{self._settings.influx.url}/query", params=params, headers=self._headers,
                    timeout=aiohttp.ClientTimeout(total=self._settings.influx.timeout_s)) as resp:
                if resp.status != 200:
                    return PatientHistory(error=f"InfluxDB answered HTTP {resp.status}")
                body = await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return PatientHistory(error=f"InfluxDB is not reachable ({type(exc).__name__})")
        results = dict(zip(named, body.get("results", []), strict=False))
        audit = {(r["alert_id"], r["time"]): r for r in _rows(results.get("audit", {}))}
        timeline = []
        for row in _rows(results.get("alerts", {})):
            by = audit.get((row["alert_id"], row["time"]), {})
            timeline.append({**row, "actor": by.get("actor", ""), "note": by.get("note", "")})
        return PatientHistory(hr_bpm=_series(results.get("hr_bpm", {})),
                              spo2_pct=_series(results.get("spo2_pct", {})),
                              steps=_series(results.get("steps", {})), timeline=timeline)
