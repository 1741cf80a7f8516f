"""The upload gateway: HTTPS for devices and phone apps in front of the telemetry topic.

* ``tokens`` — per-device bearer tokens (only their SHA-256 is stored) and the registry of grants;
* ``devices`` — the devices topic: issue, revoke, read (used by the CLI and every gateway);
* ``admission`` — an upload + its device's grant → accept, or a 4xx naming field and reason;
* ``metrics`` — the gateway's Prometheus metrics;
* ``server`` — the aiohttp application: ``POST /v1/uploads``, ``/health``, ``/metrics``.
"""
