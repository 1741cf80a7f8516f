"""All runtime configuration, from ``WEARMON_*`` environment variables (or a ``.env`` file).

Settings are validated at start-up: a bad value stops the process with a message that names the
variable to set. Secrets are ``SecretStr`` and never logged.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import available_timezones

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wearmon.stream.core.validation import Limits


class ConfigError(SystemExit):
    """Raised (and exits the process) when settings are missing or invalid."""


class Settings(BaseSettings):
    """Every setting of the worker, simulator, replay and demo. See the README's table."""

    model_config = SettingsConfigDict(env_prefix="WEARMON_", env_file=".env", extra="ignore")

    broker: str = Field(
        "",
        description="Kafka bootstrap servers, e.g. kafka://127.0.0.1:9092 (comma-separated)",
    )
    app_id: str = Field("wearmon", description="Faust app id = Kafka consumer group")
    partitions: int = Field(4, ge=1, le=1024, description="Partitions of every Wearmon topic")
    topic_telemetry: str = "wearmon.telemetry"
    topic_rejected: str = "wearmon.rejected"
    topic_anomalies: str = "wearmon.anomalies"
    topic_alerts: str = "wearmon.alerts"
    topic_patients: str = Field(
        "wearmon.patients", description="Patient settings by patient id (tombstone = unenrol)"
    )
    topic_alert_commands: str = Field(
        "wearmon.alert-commands", description="Acknowledge/snooze/resolve and timer ticks"
    )
    topic_outbox: str = Field("wearmon.outbox", description="Notifications to deliver")
    topic_deliveries: str = Field("wearmon.deliveries", description="Delivery results")
    topic_devices: str = Field(
        "wearmon.devices", description="Gateway device tokens (hashed) by device id"
    )
    topic_alert_replies: str = Field(
        "wearmon.alert-replies", description="The answer to every alert command (any sender)"
    )

    api_token: SecretStr | None = Field(
        None, description="Bearer token of the alerts API; unset = the API answers 503"
    )
    api_url: str = Field("", description="Alerts API base URL for the CLI (default: web port)")
    api_wait_s: float = Field(10.0, ge=0, description="How long the API waits for an action")
    alert_tick_s: float = Field(5.0, gt=0, description="Timer period for escalation checks")
    notify_max_attempts: int = Field(4, ge=1, le=20, description="Delivery attempts per message")
    notify_backoff_s: float = Field(1.0, ge=0, description="First retry wait (doubles)")
    notify_timeout_s: float = Field(30.0, gt=0, description="Timeout of one delivery attempt")

    influx_url: str = Field("", description="InfluxDB base URL; empty = do not write to InfluxDB")
    influx_db: str = Field("wearmon", description="Database (1.x, 3.x) or bucket (2.x)")
    influx_token: SecretStr | None = Field(None, description="Token for 2.x/3.x")
    influx_username: str = Field("", description="User for 1.x authentication")
    influx_password: SecretStr | None = None
    influx_create_db: bool = Field(False, description="Create the database at start-up (1.x/3.x)")
    influx_timeout_s: float = Field(10.0, gt=0)

    max_upload_bytes: int = Field(1_000_000, ge=1024)
    max_samples_per_upload: int = Field(5_000, ge=1)
    max_clock_skew_s: float = Field(300.0, ge=0, description="Samples further ahead: rejected")
    max_lateness_s: float = Field(
        172_800.0, ge=0, description="Samples older than the patient's newest minus this: rejected"
    )
    dead_letter_max_bytes: int = Field(65_536, ge=256, description="Bytes kept per rejection")

    max_cached_patients: int = Field(
        10_000, ge=1, description="Patients whose state a worker keeps decoded in memory (the "
                                  "least recently seen are evicted; their state is in the tables)")
    batch_max_uploads: int = Field(200, ge=1, description="Uploads per processing batch")
    batch_within_s: float = Field(0.5, gt=0, description="Longest wait to fill a batch")

    web_port: int = Field(6066, ge=1, le=65535)
    web_host: str = Field("127.0.0.1", description="Address the worker's web server binds")
    web_debug_pages: bool = Field(
        False, description="Faust's router, table, stats and graph pages (no authentication)")
    data_dir: str = Field("../shared/data", description="Where the public datasets are")
    state_dir: str = Field(".wearmon", description="Worker scratch directory (Faust datadir)")

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How to talk to Kafka: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL")
    kafka_ca_file: str = Field("", description="CA certificates (PEM) to verify the brokers; "
                                               "default: the system's")
    kafka_cert_file: str = Field("", description="Client certificate (PEM) for mutual TLS")
    kafka_key_file: str = Field("", description="Private key (PEM) of the client certificate")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism (with SASL_PLAINTEXT or SASL_SSL)")
    kafka_sasl_username: str = Field("", description="SASL user")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password, secret")
    replication_factor: int = Field(
        1, ge=1, le=10, description="Replicas of every Wearmon topic (and Faust's changelogs); "
                                    "3 on a production cluster")
    producer_max_batch_bytes: int = Field(
        16_384, ge=1,
        description="Largest producer batch per partition (Kafka's default); the embedded "
                    "test broker (Tansu) reports wrong end offsets for batches of several "
                    "records, which breaks changelog recovery: the demo and tests set 1")
    console_host: str = Field("127.0.0.1", description="Care-team console bind address")
    console_port: int = Field(8090, ge=1, le=65535, description="Care-team console port")
    console_public_url: str = Field(
        "", description="Console URL as care teams reach it (links in messages); "
        "default http://127.0.0.1:$WEARMON_CONSOLE_PORT"
    )
    console_secret_key: SecretStr | None = Field(
        None, description="Signs console sessions and message links (workers and console share "
        "it; at least 32 characters)"
    )
    console_users_file: str = Field(
        "console-users.json", description="Care-team accounts (scrypt hashes)"
    )
    console_link_ttl_s: float = Field(12 * 3600.0, gt=0, description="Message links expire")
    console_session_ttl_s: float = Field(12 * 3600.0, gt=0, description="Login lasts")
    console_login_max_failures: int = Field(
        5, ge=1, description="Failed logins of one user name that lock its login for a while")
    console_login_lockout_s: float = Field(
        300.0, gt=0, description="The while: failures count within it, and the lock lasts it")
    console_grafana_url: str = Field("", description="Grafana base URL for patient dashboards")
    console_timezone: str = Field("UTC", description="IANA time zone of the times shown")
    console_keep_resolved_s: float = Field(
        24 * 3600.0, gt=0, description="How long resolved alerts stay in the alerts view"
    )

    broker_session_timeout_s: float = Field(6.0, gt=0)
    fetch_max_wait_ms: int = Field(
        100, ge=1, le=30_000,
        description="How long the broker may hold a fetch of the worker or of an alerts view "
                    "(console, worker API) when no data is waiting (Kafka answers at once when "
                    "data is there; some brokers hold every fetch this long, so it bounds each "
                    "hop's latency). Faust alone uses 1500")
    broker_heartbeat_interval_s: float = Field(1.5, gt=0)
    connect_timeout_s: float = Field(
        5.0, gt=0, description="How long CLI commands try to reach the broker before failing"
    )

    gateway_host: str = Field("127.0.0.1", description="Address the upload gateway binds")
    gateway_port: int = Field(8080, ge=1, le=65535, description="Port of the upload gateway")
    gateway_tls_cert: str = Field("", description="PEM certificate file: serve HTTPS")
    gateway_tls_key: str = Field("", description="PEM private key file of the certificate")
    gateway_plaintext_ok: bool = Field(
        False, description="Allow plain HTTP on a non-loopback address (TLS ends at a proxy)"
    )
    gateway_max_inflight: int = Field(
        256, ge=1, description="Uploads awaiting the broker at once; more are answered 429"
    )
    gateway_send_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for the broker's acknowledgement (then 503)"
    )
    gateway_retry_after_s: int = Field(1, ge=1, description="Retry-After of 429/503 answers")
    gateway_idempotent: bool = Field(
        True, description="Idempotent producer (false for brokers without it, e.g. embedded)"
    )

    @field_validator("broker")
    @classmethod
    def _broker_scheme(cls, value: str) -> str:
        for url in filter(None, (part.strip() for part in value.split(","))):
            if not url.startswith("kafka://"):
                raise ValueError(f"'{url}' must start with kafka:// (e.g. kafka://127.0.0.1:9092)")
        return value

    @field_validator("influx_url")
    @classmethod
    def _influx_scheme(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("console_public_url", "console_grafana_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("console_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r} (use an IANA name, e.g. Europe/London)")
        return value

    @field_validator("console_secret_key")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if bool(self.gateway_tls_cert) != bool(self.gateway_tls_key):
            raise ValueError(
                "set both WEARMON_GATEWAY_TLS_CERT and WEARMON_GATEWAY_TLS_KEY, or neither"
            )
        return self

    @model_validator(mode="after")
    def _kafka_security(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
                self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError("WEARMON_KAFKA_SECURITY_PROTOCOL=SASL_* needs "
                             "WEARMON_KAFKA_SASL_USERNAME and WEARMON_KAFKA_SASL_PASSWORD")
        if bool(self.kafka_cert_file) != bool(self.kafka_key_file):
            raise ValueError("set both WEARMON_KAFKA_CERT_FILE and WEARMON_KAFKA_KEY_FILE, "
                             "or neither")
        for name in ("kafka_ca_file", "kafka_cert_file", "kafka_key_file"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ValueError(f"WEARMON_{name.upper()}: no such file {path!r}")
        return self

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> Settings:
        if self.broker_heartbeat_interval_s >= self.broker_session_timeout_s:
            raise ValueError(
                "WEARMON_BROKER_HEARTBEAT_INTERVAL_S must be below WEARMON_BROKER_SESSION_TIMEOUT_S"
            )
        return self

    @cached_property
    def broker_urls(self) -> list[str]:
        return [u.strip() for u in self.broker.split(",") if u.strip()]

    @cached_property
    def kafka_bootstrap(self) -> str:
        """Bootstrap servers in aiokafka's host:port form."""
        return ",".join(u.removeprefix("kafka://") for u in self.broker_urls)

    def limits(self) -> Limits:
        """The bounds every upload is checked against (gateway and worker alike)."""
        return Limits(max_upload_bytes=self.max_upload_bytes,
                      max_samples=self.max_samples_per_upload,
                      max_clock_skew_ms=int(self.max_clock_skew_s * 1000))

    @property
    def console_url(self) -> str:
        """The console's public base URL (links in care-team messages point here)."""
        return self.console_public_url or f"http://127.0.0.1:{self.console_port}"

    def console_secret(self) -> bytes:
        """The console secret, or a ConfigError naming the variable to set."""
        if self.console_secret_key is None:
            raise ConfigError(
                "No console secret: set WEARMON_CONSOLE_SECRET_KEY (at least 32 characters, "
                "e.g. `openssl rand -hex 32`), the same on the workers and the console."
            )
        return self.console_secret_key.get_secret_value().encode()

    def require_broker(self) -> None:
        if not self.broker_urls:
            raise ConfigError(
                "No Kafka broker configured: set WEARMON_BROKER (e.g. kafka://127.0.0.1:9092), "
                "or run `wearmon demo`, which starts an embedded broker."
            )


def load_settings(**overrides: object) -> Settings:
    """Load settings from the environment; exit with a readable message when invalid."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "WEARMON_" + "_".join(str(p) for p in err["loc"]).upper() if err["loc"] else ""
            lines.append(f"  {name or 'settings'}: {err['msg']}")
        raise ConfigError("Invalid Wearmon configuration:\n" + "\n".join(lines)) from None


def variables() -> list[tuple[str, str]]:
    """Every ``WEARMON_*`` variable with its default and meaning, for ``--help`` texts.

    >>> dict(variables())["WEARMON_PARTITIONS"]
    'default 4. Partitions of every Wearmon topic'
    """
    rows = []
    for name, field in Settings.model_fields.items():
        secret = "SecretStr" in str(field.annotation)
        default = field.default
        shown = ("secret" if secret else "unset" if default in ("", None)
                 else f"default {str(default).lower() if isinstance(default, bool) else default}")
        text = f"{shown}. {field.description}" if field.description else shown
        rows.append((f"WEARMON_{name.upper()}", text))
    return rows
