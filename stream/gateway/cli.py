"""``wearmon gateway`` and ``wearmon devices issue|revoke|list``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import click

from wearmon.stream.config import load_settings
from wearmon.stream.reach import require_services


def add_gateway_commands(main: click.Group) -> None:
    @main.command()
    def gateway() -> None:
        """Serve POST /v1/uploads for devices (HTTPS with WEARMON_GATEWAY_TLS_CERT/_KEY).

        Also FHIR R4 (POST /fhir/r4/Bundle, /fhir/r4/Observation) and Open mHealth
        (POST /omh/v1/datapoints), turned into the same uploads (docs/interop.md). Devices
        authenticate with tokens from `wearmon devices issue`. Settings: WEARMON_GATEWAY_HOST
        (127.0.0.1), WEARMON_GATEWAY_PORT (8080), the request limits
        (WEARMON_GATEWAY_MAX_INFLIGHT, _MAX_REQUESTS_PER_DEVICE, _MAX_REQUESTS_PER_ADDRESS,
        _HEADER_TIMEOUT_S, _BODY_TIMEOUT_S, _MIN_BODY_BYTES_PER_S), WEARMON_GATEWAY_IDEMPOTENT
        and WEARMON_BROKER (`wearmon settings` lists every variable).
        """
        from wearmon.stream.gateway.server import serve, tls_context

        settings = load_settings()
        tls_context(settings)  # certificate problems stop here, before anything connects
        require_services(settings)
        asyncio.run(serve(settings))

    @main.group()
    def devices() -> None:
        """Issue and revoke the gateway's per-device tokens (the devices topic)."""

    @devices.command()
    @click.argument("device_id")
    @click.option("--patient", "patient_id", required=True,
                  help="The patient this device uploads for (pseudonymous id)")
    def issue(device_id: str, patient_id: str) -> None:
        """Issue DEVICE_ID's token (replacing any previous one) and print it once."""
        from wearmon.stream.gateway.devices import issue_token
        from wearmon.stream.gateway.tokens import GrantError, check_ids

        try:
            check_ids(device_id, patient_id)  # before connecting to anything
        except GrantError as exc:
            raise click.ClickException(str(exc)) from None
        settings = load_settings()
        require_services(settings)
        token, grant = asyncio.run(issue_token(settings, device_id, patient_id))
        click.echo(token)
        click.echo(f"issued for device {device_id}, patient {patient_id} (fingerprint "
                   f"{grant.fingerprint}); it is shown only once: configure the device with it",
                   err=True)

    @devices.command()
    @click.argument("device_id")
    def revoke(device_id: str) -> None:
        """Revoke DEVICE_ID's token: every gateway refuses it within a second."""
        from wearmon.stream.gateway.devices import read_registry, revoke_token

        settings = load_settings()
        require_services(settings)
        if device_id not in asyncio.run(read_registry(settings)).by_device:
            raise click.ClickException(f"device {device_id} has no token")
        asyncio.run(revoke_token(settings, device_id))
        click.echo(f"revoked {device_id}")

    @devices.command("list")
    def list_() -> None:
        """Devices with a token: device, patient, issued at (UTC), token fingerprint."""
        from wearmon.stream.gateway.devices import read_registry

        settings = load_settings()
        require_services(settings)
        registry = asyncio.run(read_registry(settings))
        for grant in sorted(registry.by_device.values(), key=lambda g: g.device_id):
            issued = datetime.fromtimestamp(grant.issued_at_ms / 1000, UTC)
            click.echo(f"{grant.device_id}\tpatient={grant.patient_id}\t"
                       f"issued={issued:%Y-%m-%dT%H:%M:%SZ}\tfingerprint={grant.fingerprint}")
