"""Install Wearmon's folder, dashboards, alert rules and contact point into an existing Grafana.

``wearmon grafana push --url URL`` (token in ``WEARMON_GRAFANA_TOKEN``) sends the same dashboards
and rules as the provisioning files, through Grafana's HTTP API with grafana-client. Every call is
an idempotent create-or-update, so pushing twice is harmless. ``--dry-run`` prints the plan as JSON
and contacts nobody.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, TypeVar

import niquests
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from wearmon.stream.grafana.alert_rules import (
    APP_LABEL,
    CONTACT_POINT_NAME,
    FOLDER_TITLE,
    FOLDER_UID,
    api_contact_point,
    api_route,
    api_rule_groups,
)
from wearmon.stream.grafana.dashboards import all_dashboards
from wearmon.stream.grafana.influxql import DATASOURCE_UID

MIN_GRAFANA_MAJOR = 11  # dashboards use the Grafana 11.3 schema (grafana-foundation-sdk 11.3)
TOKEN_ENV = "WEARMON_GRAFANA_TOKEN"
T = TypeVar("T")


class PushError(Exception):
    """A push that cannot go on, with a message that says what to do."""


@dataclass
class PushPlan:
    """Everything ``push`` sends, in the order it sends it."""

    grafana_url: str
    folder: dict[str, str]
    dashboards: list[dict[str, Any]]
    contact_point: dict[str, Any] | None
    rule_groups: list[dict[str, Any]]
    notification_route: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False)


def build_plan(grafana_url: str, alert_email: str | None = None) -> PushPlan:
    """The resources to install; the contact point and route only when an e-mail is given."""
    dashboards = [
        {
            "dashboard": data,
            "folderUid": FOLDER_UID,
            "overwrite": True,
            "message": "Installed by wearmon grafana push",
        }
        for data in all_dashboards().values()
    ]
    notes = [
        f"Dashboards and rules query the InfluxDB data source with uid '{DATASOURCE_UID}' "
        "(InfluxQL); it must exist in this Grafana (see docs/deploy.md)."
    ]
    if alert_email:
        notes.append(
            "The notification route is added to the existing policy tree (alerts "
            f"labelled {APP_LABEL[0]}={APP_LABEL[1]}); other routes are kept."
        )
    else:
        notes.append(
            "No --alert-email: no contact point or route is installed; Wearmon's alerts "
            "follow this Grafana's existing notification policy."
        )
    return PushPlan(
        grafana_url=grafana_url,
        folder={"uid": FOLDER_UID, "title": FOLDER_TITLE},
        dashboards=dashboards,
        contact_point=api_contact_point(alert_email) if alert_email else None,
        rule_groups=api_rule_groups(),
        notification_route=api_route() if alert_email else None,
        notes=notes,
    )


def _status(error: GrafanaException) -> int:
    return int(getattr(error, "status_code", 0) or 0)


def _call(step: str, action: Callable[[], T]) -> T:
    """Run one API call; turn auth, permission and connection failures into a clear PushError."""
    try:
        return action()
    except GrafanaException as error:
        status = _status(error)
        if status == 401:
            raise PushError(
                f"{step}: Grafana rejected the token (401 Unauthorized). Set {TOKEN_ENV} to a "
                "valid service-account token of this Grafana."
            ) from error
        if status == 403:
            raise PushError(
                f"{step}: the token lacks permission (403 Forbidden). Give the service account "
                "the Admin role (folders, dashboards, alert rules, contact points and "
                "notification policies)."
            ) from error
        raise PushError(
            f"{step}: Grafana answered {status or 'with an error'}: {error.message}"
        ) from error
    except niquests.exceptions.RequestException as error:
        raise PushError(f"{step}: cannot reach Grafana ({error}). Check --url.") from error


def check_version(version: str | None) -> str:
    """Accept Grafana 11 or newer; explain what to do otherwise.

    >>> check_version("11.3.1")
    '11.3.1'
    >>> check_version("10.4.2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    wearmon.stream.grafana.push.PushError: Grafana 10.4.2 is too old: ...
    """
    if not version:
        raise PushError("Grafana did not report its version: is --url a Grafana server?")
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise PushError(f"Unrecognised Grafana version {version!r}") from None
    if major < MIN_GRAFANA_MAJOR:
        raise PushError(
            f"Grafana {version} is too old: Wearmon's dashboards and alert rules need Grafana "
            f"{MIN_GRAFANA_MAJOR} or newer (compose uses 11.3). Upgrade Grafana, or use the "
            "docker compose stack."
        )
    return version


def connect(url: str, token: str, timeout_s: float = 10.0) -> GrafanaApi:
    if not token:
        raise PushError(f"Set {TOKEN_ENV} to a Grafana service-account token (Admin role).")
    return GrafanaApi.from_url(url, credential=token, timeout=timeout_s)


def _exists(step: str, action: Callable[[], object]) -> bool:
    try:
        _call(step, action)
    except PushError as error:
        if isinstance(error.__cause__, GrafanaClientError) and _status(error.__cause__) == 404:
            return False
        raise
    return True


def _is_wearmon_route(route: dict[str, Any]) -> bool:
    return [APP_LABEL[0], "=", APP_LABEL[1]] in route.get("object_matchers", [])


def push(
    api: GrafanaApi, plan: PushPlan, log: Callable[[str], None], editable: bool = False
) -> None:
    """Install ``plan``. ``editable`` lets people edit the alerting resources in Grafana's UI."""
    version = check_version(_call("Reading Grafana's version", lambda: api.version))
    log(f"Grafana {version} at {plan.grafana_url}")
    provisioning = api.alertingprovisioning

    if not _exists(
        "Looking up the data source", lambda: api.datasource.get_datasource_by_uid(DATASOURCE_UID)
    ):
        log(
            f"warning: no data source with uid '{DATASOURCE_UID}': the dashboards and rules "
            "will show errors until you add it (docs/deploy.md)."
        )

    folder = plan.folder
    if not _exists("Looking up the folder", lambda: api.folder.get_folder(folder["uid"])):
        _call(
            "Creating the folder",
            lambda: api.folder.create_folder(folder["title"], uid=folder["uid"]),
        )
        log(f"created folder {folder['title']}")

    for body in plan.dashboards:
        title = body["dashboard"]["title"]
        _call(f"Saving dashboard {title!r}", partial(api.dashboard.update_dashboard, body))
        log(f"saved dashboard {title}")

    point = plan.contact_point
    if point is not None:
        existing = _call(
            "Reading contact points",
            lambda: provisioning.get_contactpoints(name=CONTACT_POINT_NAME),
        )
        if any(item.get("uid") == point["uid"] for item in existing or []):
            _call(
                "Updating the contact point",
                lambda: provisioning.update_contactpoint(
                    point["uid"], point, disable_provenance=editable
                ),
            )
        else:
            _call(
                "Creating the contact point",
                lambda: provisioning.create_contactpoint(point, disable_provenance=editable),
            )
        log(f"saved contact point {point['name']}")

    for group in plan.rule_groups:
        _call(
            f"Saving rule group {group['title']!r}",
            partial(
                provisioning.update_rule_group,
                folder["uid"],
                group["title"],
                group,
                disable_provenance=editable,
            ),
        )
        log(f"saved rule group {group['title']} (rules: {len(group['rules'])})")

    route = plan.notification_route
    if route is not None:
        tree = _call("Reading the notification policy", provisioning.get_notification_policy_tree)
        others = [r for r in tree.get("routes") or [] if not _is_wearmon_route(r)]
        tree["routes"] = [route, *others]
        _call(
            "Saving the notification policy",
            lambda: provisioning.set_notification_policy_tree(tree, disable_provenance=editable),
        )
        log("saved notification route for Wearmon alerts")
