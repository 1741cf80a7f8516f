"""InfluxQL queries and annotations for Grafana's InfluxDB data source, as SDK builders.

grafana-foundation-sdk 11.3 ships no InfluxDB query type, so this module adds the two small pieces
the dashboards and alert rules need: a raw InfluxQL data query and an InfluxQL annotation. Both
serialise to the JSON Grafana 11's InfluxDB plugin stores. Every query targets the one provisioned
data source, uid ``wearmon-influx``.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

DATASOURCE_UID = "wearmon-influx"
DATASOURCE_TYPE = "influxdb"

ResultFormat = Literal["time_series", "table"]


def datasource_ref() -> dashboard.DataSourceRef:
    """A reference to the provisioned InfluxDB data source."""
    return dashboard.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL query (Grafana's "raw query" mode)."""

    def __init__(
        self,
        ref_id: str,
        query: str,
        result_format: ResultFormat = "time_series",
        alias: str | None = None,
        interval_ms: int | None = None,
        max_data_points: int | None = None,
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias
        self.interval_ms = interval_ms
        self.max_data_points = max_data_points

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "datasource": datasource_ref(),
            "query": self.query,
            "rawQuery": True,
            "refId": self.ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        if self.interval_ms is not None:
            payload["intervalMs"] = self.interval_ms
        if self.max_data_points is not None:
            payload["maxDataPoints"] = self.max_data_points
        return payload


class InfluxQL(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder for :class:`InfluxQLQuery`, usable wherever the SDK takes a query builder.

    >>> q = InfluxQL('SELECT mean("hr_bpm") FROM "vitals" WHERE $timeFilter').ref_id("B").build()
    >>> q.to_json()["refId"], q.to_json()["rawQuery"]
    ('B', True)
    """

    def __init__(self, query: str) -> None:
        self._internal = InfluxQLQuery(ref_id="A", query=query)

    def build(self) -> InfluxQLQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def table(self) -> Self:
        """Return rows (one column per tag and field) instead of time series."""
        self._internal.result_format = "table"
        return self

    def alias(self, alias: str) -> Self:
        """Series name pattern, e.g. ``$tag_detector``."""
        self._internal.alias = alias
        return self

    def for_alerting(self) -> Self:
        """Add the interval and point limits Grafana stores with alert-rule queries."""
        self._internal.interval_ms = 1000
        self._internal.max_data_points = 43200
        return self


class InfluxAnnotationQuery(dashboard.AnnotationQuery):
    """An annotation fed by an InfluxQL query; Grafana reads its settings from ``target``."""

    def __init__(self, name: str, query: str, text_column: str, tags_column: str) -> None:
        super().__init__(name=name, datasource=datasource_ref(), enable=True, icon_color="red")
        self.built_in = None
        self.influx_target: dict[str, Any] = {
            "fromAnnotations": True,
            "query": query,
            "rawQuery": True,
            "refId": "Anno",
            "tagsColumn": tags_column,
            "textColumn": text_column,
            "textEditor": True,
        }

    def to_json(self) -> dict[str, object]:
        payload = super().to_json()
        payload["target"] = self.influx_target
        return payload


class InfluxAnnotation(cogbuilder.Builder[dashboard.AnnotationQuery]):
    """Builder for an InfluxQL annotation: ``query`` must contain ``$timeFilter``."""

    def __init__(self, name: str, query: str, text_column: str, tags_column: str = "") -> None:
        self._internal = InfluxAnnotationQuery(name, query, text_column, tags_column)

    def build(self) -> dashboard.AnnotationQuery:
        return self._internal

    def icon_color(self, color: str) -> Self:
        self._internal.icon_color = color
        return self
