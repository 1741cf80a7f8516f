"""``wearmon patients …`` (the patients topic) and ``wearmon alerts …`` (a worker's alerts API)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from wearmon.stream.config import Settings, load_settings
from wearmon.stream.reach import require_services

EXAMPLES = "docs/examples/patient-minimal.json and docs/examples/patient-full.json"


def connected_settings() -> Settings:
    """Settings whose broker answers (else one line naming WEARMON_BROKER, within seconds)."""
    settings = load_settings()
    require_services(settings)
    return settings


def add_patients_commands(main: click.Group) -> None:
    @main.group()
    def patients() -> None:
        """Enrol patients and manage their settings (the patients topic)."""

    @patients.command("set", epilog=f"Examples of settings files: {EXAMPLES} in the "
                                    "repository (fields: stream/core/patients.py).")
    @click.option("--file", "paths", type=click.Path(path_type=Path, exists=True, dir_okay=False),
                  required=True, multiple=True,
                  help="A PatientSettings JSON file (repeat for several patients)")
    def set_(paths: tuple[Path, ...]) -> None:
        """Enrol patients or replace their settings. Invalid settings are rejected, naming the
        field, before anything is sent."""
        from wearmon.stream.core.patients import PatientSettings, SettingsError
        from wearmon.stream.views.patients import publish_patient, read_patients

        wanted = []
        for path in paths:
            try:
                wanted.append((path, PatientSettings.from_json(path.read_bytes())))
            except SettingsError as exc:
                raise click.ClickException(f"{path}: {exc}") from None
        settings = connected_settings()
        current = asyncio.run(read_patients(settings))
        for path, one in wanted:
            for other in current.values():
                clash = set(other.devices) & set(one.devices)
                if other.patient_id != one.patient_id and clash:
                    raise click.ClickException(
                        f"{path}: invalid patient settings:\n  devices: {sorted(clash)} already "
                        f"enrolled to patient {other.patient_id}")
        for _, one in wanted:
            asyncio.run(publish_patient(settings, one.patient_id, one.to_json()))
            click.echo(f"enrolled {one.patient_id}" if one.patient_id not in current
                       else f"updated {one.patient_id}")

    @patients.command()
    @click.argument("patient_id")
    def show(patient_id: str) -> None:
        """Print one patient's settings (recipient URLs masked)."""
        from wearmon.stream.views.patients import read_patients

        settings = connected_settings()
        one = asyncio.run(read_patients(settings)).get(patient_id)
        if one is None:
            raise click.ClickException(f"patient {patient_id} is not enrolled")
        click.echo(json.dumps(one.model_dump(mode="json"), indent=2))

    @patients.command()
    @click.argument("patient_id")
    def remove(patient_id: str) -> None:
        """Unenrol a patient (a tombstone on the patients topic)."""
        from wearmon.stream.views.patients import publish_patient, read_patients

        settings = connected_settings()
        if patient_id not in asyncio.run(read_patients(settings)):
            raise click.ClickException(f"patient {patient_id} is not enrolled")
        asyncio.run(publish_patient(settings, patient_id, None))
        click.echo(f"removed {patient_id}")

    @patients.command("list")
    def list_() -> None:
        """Enrolled patients: id, devices, recipients."""
        from wearmon.stream.views.patients import read_patients

        for one in sorted(asyncio.run(read_patients(connected_settings())).values(),
                          key=lambda s: s.patient_id):
            care = ",".join(r.id for r in one.care_team)
            own = ",".join(r.id for r in one.patient_recipients) or "-"
            click.echo(f"{one.patient_id}\tdevices={','.join(one.devices) or '-'}\t"
                       f"care_team={care}\tpatient={own}")


def _call(url: str, token: str, method: str, body: dict[str, Any] | None = None
          ) -> tuple[int, dict[str, Any]]:
    if not token:
        raise click.ClickException("no API token: set WEARMON_API_TOKEN or pass --token")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, dict(json.loads(resp.read() or b"{}"))
    except urllib.error.HTTPError as exc:
        try:
            doc = dict(json.loads(exc.read() or b"{}"))
        except ValueError:
            doc = {"error": exc.reason}
        return exc.code, doc
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach the alerts API at {url}: {exc.reason}") from None


ALERT_COLUMNS = ("ALERT", "SEVERITY", "STATE", "OPEN FOR", "ESCALATION", "PAGED", "BY")


def alerts_table(alerts: list[dict[str, Any]], now_ms: int) -> str:
    """Open alerts as aligned columns; a header (and a line saying so) also when there are none.

    >>> print(alerts_table([], 0))
    ALERT  SEVERITY  STATE  OPEN FOR  ESCALATION  PAGED  BY
    (no open alerts)
    """
    from wearmon.stream.console.board_view import duration_text

    rows = [ALERT_COLUMNS] + [
        (a["alert_id"], a["severity"], a["state"], duration_text(now_ms - a["opened_ms"]),
         a.get("escalation", ""), ",".join(a.get("paged", [])) or "-", a.get("acked_by") or "-")
        for a in alerts]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(ALERT_COLUMNS))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    return "\n".join(lines if alerts else [*lines, "(no open alerts)"])


def add_alerts_commands(main: click.Group) -> None:
    @main.group()
    @click.option("--url", envvar="WEARMON_API_URL", default="",
                  help="Alerts API base URL [env WEARMON_API_URL; default the local worker]")
    @click.option("--token", envvar="WEARMON_API_TOKEN", default="",
                  help="Bearer token [env WEARMON_API_TOKEN]")
    @click.pass_context
    def alerts(ctx: click.Context, url: str, token: str) -> None:
        """List and act on open alerts through a worker's API."""
        settings = load_settings()
        base = url or settings.api.url or f"http://127.0.0.1:{settings.worker.web_port}"
        ctx.obj = (base.rstrip("/"), token)

    @alerts.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print the raw JSON")
    @click.pass_obj
    def list_(obj: tuple[str, str], as_json: bool) -> None:
        """Open alerts of every patient, most severe and oldest first."""
        base, token = obj
        status, doc = _call(f"{base}/alerts", token, "GET")
        if status != 200:
            raise click.ClickException(f"HTTP {status}: {doc.get('error', doc)}")
        if as_json:
            click.echo(json.dumps(doc, indent=2))
            return
        click.echo(alerts_table(doc["alerts"], time.time_ns() // 1_000_000))

    def act(action: str) -> Any:
        @click.argument("alert_id")
        @click.option("--actor", required=True, help="Who acts (audit trail)")
        @click.option("--note", default="", help="Why")
        @click.pass_obj
        def command(obj: tuple[str, str], alert_id: str, actor: str, note: str,
                    **extra: Any) -> None:
            base, token = obj
            body: dict[str, Any] = {"actor": actor, "note": note}
            if action == "snooze":
                body["until_ms"] = int(time.time() * 1000 + extra["minutes"] * 60_000)
            status, doc = _call(f"{base}/alerts/{alert_id}/{action}", token, "POST", body)
            if status not in (200, 202):
                raise click.ClickException(f"HTTP {status}: {doc.get('error', doc)}")
            if status == 202:
                click.echo(f"accepted (command {doc['command_id']}); not yet applied")
            else:
                for e in doc["events"]:
                    click.echo(f"{e['alert_id']}: {e['action']} by {e['actor']}")
        return command

    alerts.command("ack", help="Acknowledge an alert (stops escalation).")(act("ack"))
    alerts.command("resolve", help="Resolve an alert.")(act("resolve"))
    snooze = click.option("--minutes", type=click.FloatRange(min=1), required=True,
                          help="Snooze for this long")(act("snooze"))
    alerts.command("snooze", help="Snooze an alert for --minutes minutes (no reminders or "
                                  "escalation meanwhile).")(snooze)
