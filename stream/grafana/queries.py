"""Find every InfluxQL query in dashboards and alert rules, and substitute Grafana's macros.

Used by the tests that run each panel, annotation, variable and alert-rule query against a real
InfluxDB, and handy for trying a panel's query by hand::

    >>> q = 'SELECT mean("hr_bpm") FROM "vitals" WHERE "patient" = \\'$patient\\' AND $timeFilter'
    >>> substitute_macros(q, {"patient": "p-0001"})
    'SELECT mean("hr_bpm") FROM "vitals" WHERE "patient" = \\'p-0001\\' AND time > now() - 30d'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

EXPRESSION_UID = "__expr__"

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\[\[(\w+)\]\]|\$(\w+)")


@dataclass(frozen=True, slots=True)
class FoundQuery:
    """One InfluxQL query and where it came from."""

    where: str  # dashboard uid or alert-rule uid
    kind: str  # "panel", "annotation", "variable" or "alert rule"
    title: str  # panel title, annotation or variable name, rule title
    ref_id: str
    query: str
    datasource_uid: str
    range_s: int | None = None  # an alert-rule query's relative time range, in seconds


def duration_ms(text: str) -> int:
    """Milliseconds in a Grafana duration such as ``30s``, ``1m`` or ``6h``.

    >>> duration_ms("1m"), duration_ms("250ms"), duration_ms("2d")
    (60000, 250, 172800000)
    """
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 1m, 6h)")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def substitute_macros(
    query: str,
    variables: Mapping[str, str] | None = None,
    time_filter: str = "time > now() - 30d",
    interval: str = "1m",
) -> str:
    """Replace Grafana's InfluxQL macros and template variables as Grafana would.

    ``$timeFilter`` / ``$__timeFilter`` become ``time_filter``; ``$__interval`` / ``$interval``
    become ``interval`` and ``$__interval_ms`` its milliseconds; ``$name``, ``${name}`` and
    ``[[name]]`` take the value of template variable ``name``. An unknown ``$name`` raises
    ``KeyError``, so a query never reaches InfluxDB with a macro left in it.
    """
    values = {
        "timeFilter": time_filter,
        "__timeFilter": time_filter,
        "__interval": interval,
        "interval": interval,
        "__interval_ms": str(duration_ms(interval)),
        **(variables or {}),
    }

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group is not None)
        if name not in values:
            raise KeyError(f"unknown Grafana variable ${name} in query: {query}")
        return values[name]

    return _VARIABLE.sub(replace, query)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # panels inside collapsed rows


def _influx(datasource: Any) -> str:
    return str(datasource.get("uid", "")) if isinstance(datasource, dict) else ""


def dashboard_queries(dashboard: Mapping[str, Any]) -> list[FoundQuery]:
    """Every query of a dashboard: panel targets, annotations and query variables."""
    uid = str(dashboard.get("uid", ""))
    found = []
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            datasource = target.get("datasource") or panel.get("datasource")
            found.append(
                FoundQuery(
                    uid,
                    "panel",
                    panel.get("title", ""),
                    target["refId"],
                    target["query"],
                    _influx(datasource),
                )
            )
    for annotation in dashboard.get("annotations", {}).get("list", []):
        target = annotation.get("target") or {}
        if "query" in target:
            found.append(
                FoundQuery(
                    uid,
                    "annotation",
                    annotation["name"],
                    "Anno",
                    target["query"],
                    _influx(annotation.get("datasource")),
                )
            )
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            found.append(
                FoundQuery(
                    uid,
                    "variable",
                    variable["name"],
                    variable["name"],
                    str(variable["query"]),
                    _influx(variable.get("datasource")),
                )
            )
    return found


def rule_queries(rule: Mapping[str, Any]) -> list[FoundQuery]:
    """The data-source queries of one alert rule (server-side expressions are skipped)."""
    found = []
    for item in rule.get("data", []):
        if item.get("datasourceUid") == EXPRESSION_UID:
            continue
        time_range = item.get("relativeTimeRange") or {}
        found.append(
            FoundQuery(
                str(rule.get("uid", "")),
                "alert rule",
                rule["title"],
                item["refId"],
                item["model"]["query"],
                item["datasourceUid"],
                range_s=int(time_range.get("from", 0)) or None,
            )
        )
    return found


def alerting_queries(document: Mapping[str, Any]) -> list[FoundQuery]:
    """Every data-source query of every rule in an alert-rule provisioning document."""
    return [
        found
        for group in document.get("groups", [])
        for rule in group.get("rules", [])
        for found in rule_queries(rule)
    ]
