"""All runtime configuration, from ``WEARMON_*`` environment variables (or a ``.env`` file).

``Settings`` is made of sections, one per part of the system (``settings.kafka.broker``,
``settings.influx.url``, ``settings.console.port`` …); each part is handed only its section.
Every section reads its own variables (``WEARMON_INFLUX_URL`` is ``influx.url``). Settings are
validated at start-up: a bad value stops the process with a message that names the variable to
set. Secrets are ``SecretStr`` and never logged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wearmon.stream.core.validation import Limits


class ConfigError(SystemExit):
    """Raised (and exits the process) when settings are missing or invalid."""


def section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore")


def http_url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"'{value}' must start with http:// or https://")
    return value.rstrip("/")


class Section(BaseSettings):
    """One group of settings, read from its own ``WEARMON_…`` variables."""

    title: ClassVar[str] = ""

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of one field."""
        return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


class KafkaSecurity(Section):
    title = "Kafka security (every Kafka client: worker, sink, gateway, console, tools)"
    model_config = section("WEARMON_KAFKA_")

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How to talk to Kafka: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL")
    ca_file: str = Field("", description="CA certificates (PEM) to verify the brokers; "
                                         "default: the system's")
    cert_file: str = Field("", description="Client certificate (PEM) for mutual TLS")
    key_file: str = Field("", description="Private key (PEM) of the client certificate")
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism (with SASL_PLAINTEXT or SASL_SSL)")
    sasl_username: str = Field("", description="SASL user")
    sasl_password: SecretStr | None = Field(None, description="SASL password, secret")

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        if self.security_protocol.startswith("SASL_") and not (
                self.sasl_username and self.sasl_password):
            raise ValueError("WEARMON_KAFKA_SECURITY_PROTOCOL=SASL_* needs "
                             "WEARMON_KAFKA_SASL_USERNAME and WEARMON_KAFKA_SASL_PASSWORD")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("set both WEARMON_KAFKA_CERT_FILE and WEARMON_KAFKA_KEY_FILE, "
                             "or neither")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ValueError(f"{self.variable(name)}: no such file {path!r}")
        return self


class KafkaSettings(Section):
    title = "Broker"
    model_config = section("WEARMON_")

    broker: str = Field(
        "", description="Kafka bootstrap servers, e.g. kafka://127.0.0.1:9092 (comma-separated)")
    app_id: str = Field("wearmon", description="Faust app id = Kafka consumer group")
    partitions: int = Field(4, ge=1, le=1024, description="Partitions of every Wearmon topic")
    replication_factor: int = Field(
        1, ge=1, le=10, description="Replicas of every Wearmon topic (and Faust's changelogs); "
                                    "3 on a production cluster")
    producer_max_batch_bytes: int = Field(
        16_384, ge=1,
        description="Largest producer batch per partition (Kafka's default); 1 on the embedded "
                    "test broker, whose end offsets are wrong for multi-record batches")
    broker_session_timeout_s: float = Field(6.0, gt=0, description="Consumer group session")
    broker_heartbeat_interval_s: float = Field(1.5, gt=0, description="Consumer heartbeat")
    fetch_max_wait_ms: int = Field(
        100, ge=1, le=30_000,
        description="Longest the broker may hold a fetch when no data waits (bounds each hop's "
                    "latency on brokers that always wait; Faust alone uses 1500)")
    connect_timeout_s: float = Field(
        5.0, gt=0, description="How long commands try to reach the broker before failing")
    security: KafkaSecurity = Field(default_factory=KafkaSecurity)

    @field_validator("broker")
    @classmethod
    def _broker_scheme(cls, value: str) -> str:
        for url in filter(None, (part.strip() for part in value.split(","))):
            if not url.startswith("kafka://"):
                raise ValueError(f"'{url}' must start with kafka:// (e.g. kafka://127.0.0.1:9092)")
        return value

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> KafkaSettings:
        if self.broker_heartbeat_interval_s >= self.broker_session_timeout_s:
            raise ValueError("WEARMON_BROKER_HEARTBEAT_INTERVAL_S must be below "
                             "WEARMON_BROKER_SESSION_TIMEOUT_S")
        return self

    @cached_property
    def broker_urls(self) -> list[str]:
        return [u.strip() for u in self.broker.split(",") if u.strip()]

    @cached_property
    def bootstrap(self) -> str:
        """Bootstrap servers in aiokafka's host:port form."""
        return ",".join(u.removeprefix("kafka://") for u in self.broker_urls)


class Topics(Section):
    title = "Topics (every topic: docs/topics.md)"
    model_config = section("WEARMON_TOPIC_")

    telemetry: str = Field("wearmon.telemetry", description="Uploads, keyed by patient id")
    points: str = Field("wearmon.points", description="What the sink writes to InfluxDB")
    rejected: str = Field("wearmon.rejected", description="Dead letters: field and reason")
    anomalies: str = Field("wearmon.anomalies", description="Detector findings")
    alerts: str = Field("wearmon.alerts", description="Alert lifecycle events")
    patients: str = Field(
        "wearmon.patients", description="Patient settings by patient id (tombstone = unenrol)")
    alert_commands: str = Field(
        "wearmon.alert-commands", description="Acknowledge/snooze/resolve and timer ticks")
    alert_replies: str = Field(
        "wearmon.alert-replies", description="The answer to every alert command (any sender)")
    outbox: str = Field("wearmon.outbox", description="Notifications to deliver")
    deliveries: str = Field("wearmon.deliveries", description="Delivery results")
    devices: str = Field(
        "wearmon.devices", description="Gateway device tokens (hashed) by device id")
    monitoring: str = Field(
        "wearmon.monitoring", description="Wards whose monitoring is delayed (console watch)")

    def names(self) -> list[str]:
        return [getattr(self, name) for name in type(self).model_fields]


class InfluxSettings(Section):
    title = "InfluxDB"
    model_config = section("WEARMON_INFLUX_")

    url: str = Field("", description="InfluxDB base URL; empty = do not write to InfluxDB")
    db: str = Field("wearmon", description="Database (1.x, 3.x) or bucket (2.x)")
    token: SecretStr | None = Field(None, description="Token for 2.x/3.x")
    username: str = Field("", description="User for 1.x authentication")
    password: SecretStr | None = Field(None, description="Password for 1.x authentication")
    create_db: bool = Field(False, description="Create the database at start-up (1.x/3.x)")
    timeout_s: float = Field(10.0, gt=0, description="Timeout of one write attempt")

    @field_validator("url")
    @classmethod
    def _influx_scheme(cls, value: str) -> str:
        return http_url(value)


class SinkSettings(Section):
    title = "InfluxDB sink (wearmon sink)"
    model_config = section("WEARMON_SINK_")

    host: str = Field("127.0.0.1", description="Address the sink's web server binds")
    port: int = Field(6067, ge=1, le=65535, description="The sink's /health, /ready, /metrics")
    group: str = Field("", description="Consumer group of the sinks (default: APP_ID-sink)")
    batch_records: int = Field(200, ge=1, description="Records per InfluxDB write, at most")
    max_lag_s: float = Field(
        60.0, gt=0, description="/ready fails when the oldest record not yet written is older")


class FhirSettings(Section):
    title = "FHIR export (wearmon fhir-export)"
    model_config = section("WEARMON_FHIR_")

    base_url: str = Field(
        "", description="FHIR R4 server base URL (e.g. https://ehr.example.org/fhir) that gets "
                        "each alert as a Flag and each care-team message as a Communication; "
                        "empty = no export")
    token: SecretStr | None = Field(
        None, description="Bearer token for the FHIR server, secret (or SMART backend services "
                          "below; neither: no Authorization header)")
    client_id: str = Field(
        "", description="SMART backend services: the client id registered with the server")
    private_key_file: str = Field(
        "", description="SMART backend services: the client's private key (PEM, RSA or EC) "
                        "that signs its JWT assertions (RS384 / ES384)")
    key_id: str = Field(
        "", description="SMART backend services: the key's kid in the client's registered JWKS")
    token_url: str = Field("", description="SMART backend services: the token endpoint")
    scope: str = Field(
        "system/Flag.write system/Communication.write",
        description="SMART backend services: the scopes asked for (SMART v2 servers: "
                    "system/Flag.cu system/Communication.cu)")
    timeout_s: float = Field(10.0, gt=0, description="Timeout of one request to the server")
    retry_max_s: float = Field(
        30.0, gt=0, description="Longest wait between two attempts while the server is away")
    concurrency: int = Field(8, ge=1, le=64, description="Requests in flight at once")
    host: str = Field("127.0.0.1", description="Address the exporter's web server binds")
    port: int = Field(6068, ge=1, le=65535,
                      description="The exporter's /health, /ready, /metrics")
    group: str = Field("", description="Consumer group of the exporters "
                                       "(default: APP_ID-fhir-export)")
    batch_records: int = Field(200, ge=1, description="Records handled per batch, at most")
    max_lag_s: float = Field(
        120.0, gt=0, description="/ready fails when the oldest record not yet written is older")

    @field_validator("base_url", "token_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("token")
    @classmethod
    def _empty_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is not None and not value.get_secret_value() else value

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> FhirSettings:
        smart = (self.client_id, self.private_key_file, self.token_url)
        if any(smart) and not all(smart):
            raise ValueError("SMART backend services need WEARMON_FHIR_CLIENT_ID, "
                             "WEARMON_FHIR_PRIVATE_KEY_FILE and WEARMON_FHIR_TOKEN_URL")
        if any(smart) and self.token is not None:
            raise ValueError("set WEARMON_FHIR_TOKEN or SMART backend services "
                             "(WEARMON_FHIR_CLIENT_ID …), not both")
        if self.private_key_file and not Path(self.private_key_file).is_file():
            raise ValueError(f"WEARMON_FHIR_PRIVATE_KEY_FILE: no such file "
                             f"{self.private_key_file!r}")
        return self

    @property
    def smart(self) -> bool:
        """Whether tokens come from SMART backend services (a signed JWT per token)."""
        return bool(self.client_id)


class UploadLimits(Section):
    title = "Uploads (gateway and worker)"
    model_config = section("WEARMON_")

    max_upload_bytes: int = Field(1_000_000, ge=1024, description="Larger: too_large")
    max_samples_per_upload: int = Field(5_000, ge=1, description="More: too_many_samples")
    max_clock_skew_s: float = Field(300.0, ge=0, description="Samples further ahead: rejected")
    max_lateness_s: float = Field(
        172_800.0, ge=0, description="Samples older than the patient's newest minus this: rejected")
    dead_letter_max_bytes: int = Field(65_536, ge=256, description="Bytes kept per rejection")

    def limits(self) -> Limits:
        """The bounds every upload is checked against (gateway and worker alike)."""
        return Limits(max_upload_bytes=self.max_upload_bytes,
                      max_samples=self.max_samples_per_upload,
                      max_clock_skew_ms=int(self.max_clock_skew_s * 1000))


class WorkerSettings(Section):
    title = "Worker"
    model_config = section("WEARMON_")

    max_cached_patients: int = Field(
        10_000, ge=1, description="Patients whose state a worker keeps decoded in memory (the "
                                  "least recently seen are evicted; their state is in the tables)")
    batch_max_uploads: int = Field(200, ge=1, description="Uploads per processing batch")
    batch_within_s: float = Field(0.5, gt=0, description="Longest wait to fill a batch")
    alert_tick_s: float = Field(5.0, gt=0, description="Timer period for escalation checks")
    web_port: int = Field(6066, ge=1, le=65535, description="Worker web server port")
    web_host: str = Field("127.0.0.1", description="Address the worker's web server binds")
    web_debug_pages: bool = Field(
        False, description="Faust's router, table, stats and graph pages (no authentication)")
    state_dir: str = Field(".wearmon", description="Where a worker keeps its tables (RocksDB), "
                                                   "one folder per worker (by web port)")
    state_store: Literal["rocksdb", "memory"] = Field(
        "rocksdb", description="rocksdb: tables on disk, restarts replay only what changed; "
                               "memory: every restart replays the whole changelog")
    ready_stall_s: float = Field(
        60.0, gt=0, description="/ready fails when a partition has records waiting and no "
                                "progress for this long")


class ApiSettings(Section):
    title = "Alerts API (on the worker's web server)"
    model_config = section("WEARMON_API_")

    token: SecretStr | None = Field(
        None, description="Bearer token of the alerts API; unset = the API answers 503")
    url: str = Field("", description="Alerts API base URL for the CLI (default: web port)")
    wait_s: float = Field(10.0, ge=0, description="How long the API waits for an action")


class NotifySettings(Section):
    title = "Notifications"
    model_config = section("WEARMON_NOTIFY_")

    max_attempts: int = Field(4, ge=1, le=20, description="Delivery attempts per message")
    backoff_s: float = Field(1.0, ge=0, description="First retry wait (doubles)")
    timeout_s: float = Field(30.0, gt=0, description="Timeout of one delivery attempt")
    next_steps_file: str = Field(
        "", description="JSON file: each ward's suggested next step per kind of alert, shown "
                        "in messages and the console (unset: the NEWS2-based defaults)")


class ConsoleSettings(Section):
    title = "Care-team console (and the links in messages)"
    model_config = section("WEARMON_CONSOLE_")

    host: str = Field("127.0.0.1", description="Care-team console bind address")
    port: int = Field(8090, ge=1, le=65535, description="Care-team console port")
    public_url: str = Field(
        "", description="Console URL as care teams reach it (links in messages); "
                        "default http://127.0.0.1:$WEARMON_CONSOLE_PORT")
    secret_key: SecretStr | None = Field(
        None, description="Signs console sessions and message links (workers and console share "
                          "it; at least 32 characters)")
    users_file: str = Field("console-users.json", description="Care-team accounts (scrypt hashes)")
    link_ttl_s: float = Field(12 * 3600.0, gt=0, description="Message links expire")
    session_ttl_s: float = Field(12 * 3600.0, gt=0, description="Login lasts")
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins of one user name from one address before that "
                             "pair's tries are slowed down")
    login_first_wait_s: float = Field(
        30.0, gt=0, description="The first wait after those failures; each further failure "
                                "doubles it")
    login_lockout_s: float = Field(
        300.0, gt=0, description="The longest wait between tries of one name from one address")
    trust_forwarded_for: bool = Field(
        False, description="Behind a reverse proxy: the client address (for the login "
                           "throttle) is the last one in X-Forwarded-For")
    streams_per_session: int = Field(
        4, ge=1, description="Live-update streams one session may hold open (429 beyond)")
    grafana_url: str = Field("", description="Grafana base URL for patient dashboards")
    timezone: str = Field("UTC", description="IANA time zone of the times shown")
    keep_resolved_s: float = Field(
        24 * 3600.0, gt=0, description="How long resolved alerts stay in the alerts view")
    watch_grace_s: float = Field(
        60.0, gt=0, description="A reading not judged after this long: its ward's monitoring "
                                "is delayed (banner on every page, the ward's on-call told)")
    watch_every_s: float = Field(10.0, gt=0, description="How often the console checks")

    @field_validator("public_url", "grafana_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r} (use an IANA name, e.g. Europe/London)")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @property
    def url(self) -> str:
        """The console's public base URL (links in care-team messages point here)."""
        return self.public_url or f"http://127.0.0.1:{self.port}"

    def secret(self) -> bytes:
        """The console secret, or a ConfigError naming the variable to set."""
        if self.secret_key is None:
            raise ConfigError(
                "No console secret: set WEARMON_CONSOLE_SECRET_KEY (at least 32 characters, "
                "e.g. `openssl rand -hex 32`), the same on the workers and the console.")
        return self.secret_key.get_secret_value().encode()

    def secret_or_none(self) -> bytes | None:
        return None if self.secret_key is None else self.secret_key.get_secret_value().encode()


class GatewaySettings(Section):
    title = "Upload gateway"
    model_config = section("WEARMON_GATEWAY_")

    host: str = Field("127.0.0.1", description="Address the upload gateway binds")
    port: int = Field(8080, ge=1, le=65535, description="Port of the upload gateway")
    tls_cert: str = Field("", description="PEM certificate file: serve HTTPS")
    tls_key: str = Field("", description="PEM private key file of the certificate")
    plaintext_ok: bool = Field(
        False, description="Allow plain HTTP on a non-loopback address (TLS ends at a proxy)")
    max_inflight: int = Field(
        256, ge=1, description="Uploads awaiting the broker at once; more are answered 429")
    send_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for the broker's acknowledgement (then 503)")
    retry_after_s: int = Field(1, ge=1, description="Retry-After of 429/503 answers")
    idempotent: bool = Field(
        True, description="Idempotent producer (false for brokers without it, e.g. embedded)")
    header_timeout_s: float = Field(
        10.0, gt=0, description="A request's headers must be complete within it after the "
                                "connection opens or the previous answer; else it is closed")
    body_timeout_s: float = Field(
        10.0, gt=0, description="A body must arrive within it, extended by one second per "
                                "WEARMON_GATEWAY_MIN_BODY_BYTES_PER_S bytes received (then 408)")
    min_body_bytes_per_s: int = Field(
        1000, ge=1, description="The slowest body the gateway waits for (bytes/s, on average)")
    max_requests_per_device: int = Field(
        8, ge=1, description="Requests of one device token at once (receiving or awaiting the "
                             "broker); more: 429")
    max_requests_per_address: int = Field(
        64, ge=1, description="Requests from one client address at once; more: 429 (behind a "
                              "proxy every device has the proxy's address: raise it)")

    @model_validator(mode="after")
    def _tls_pair(self) -> GatewaySettings:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError(
                "set both WEARMON_GATEWAY_TLS_CERT and WEARMON_GATEWAY_TLS_KEY, or neither")
        return self


class DataSettings(Section):
    title = "Datasets (replay, evaluate)"
    model_config = section("WEARMON_")

    data_dir: str = Field("../shared/data", description="Where the public datasets are")


#: Every section: the attribute of ``Settings`` and its class, in the order ``-h`` shows them.
SECTIONS: dict[str, type[Section]] = {
    "kafka": KafkaSettings, "topics": Topics, "influx": InfluxSettings,
    "sink": SinkSettings, "fhir": FhirSettings, "uploads": UploadLimits, "worker": WorkerSettings,
    "api": ApiSettings, "notify": NotifySettings, "console": ConsoleSettings,
    "gateway": GatewaySettings, "data": DataSettings,
}


class Settings(BaseModel):
    """Every setting of Wearmon, by section (each part is given the sections it uses)."""

    model_config = {"frozen": True}

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: Topics = Field(default_factory=Topics)
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    fhir: FhirSettings = Field(default_factory=FhirSettings)
    uploads: UploadLimits = Field(default_factory=UploadLimits)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    data: DataSettings = Field(default_factory=DataSettings)

    def require_broker(self) -> None:
        if not self.kafka.broker_urls:
            raise ConfigError(
                "No Kafka broker configured: set WEARMON_BROKER (e.g. kafka://127.0.0.1:9092), "
                "or run `wearmon demo`, which starts an embedded broker.")

    @property
    def sink_group(self) -> str:
        return self.sink.group or f"{self.kafka.app_id}-sink"

    @property
    def fhir_group(self) -> str:
        return self.fhir.group or f"{self.kafka.app_id}-fhir-export"

    def with_topics(self, **names: str) -> Settings:
        """The same settings with some topic names changed (e.g. ``telemetry=…``)."""
        return self.model_copy(update={"topics": self.topics.model_copy(update=names)})


def fields_of(cls: type[Section]) -> Iterator[tuple[str, str]]:
    """(field, environment variable) of a section's own settings (not its sub-sections)."""
    for name, field in cls.model_fields.items():
        if not (isinstance(field.annotation, type) and issubclass(field.annotation, Section)):
            yield name, cls.variable(name)


def subsections(cls: type[Section]) -> dict[str, type[Section]]:
    return {name: field.annotation for name, field in cls.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, Section)}


def build(cls: type[Section], overrides: Mapping[str, str], read_environment: bool,
          errors: list[str]) -> Any:
    """One section from ``overrides`` (WEARMON_* names) and, if asked, the environment;
    problems go to ``errors`` as "WEARMON_X: what is wrong"."""
    values: dict[str, Any] = {name: overrides[variable] for name, variable in fields_of(cls)
                              if variable in overrides}
    for name, sub in subsections(cls).items():
        values[name] = build(sub, overrides, read_environment, errors)
    if any(v is None for v in values.values()):
        return None
    if not read_environment:  # a prefix no variable has, and no .env file
        values.update(_env_file=None, _env_prefix="WEARMON_IGNORED_")
    try:
        return cls(**values)
    except ValidationError as exc:
        for err in exc.errors():
            name = cls.variable(str(err["loc"][0])) if err["loc"] else "settings"
            errors.append(f"  {name}: {err['msg']}")
        return None


def settings_from(overrides: Mapping[str, str], read_environment: bool) -> Settings:
    errors: list[str] = []
    sections = {name: build(cls, overrides, read_environment, errors)
                for name, cls in SECTIONS.items()}
    if errors:
        raise ConfigError("Invalid Wearmon configuration:\n" + "\n".join(errors))
    return Settings(**sections)


def load_settings(overrides: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment (and ``.env``), ``overrides`` (``WEARMON_*`` names) taking
    precedence; exit with a readable message naming each variable that is invalid."""
    return settings_from(overrides or {}, read_environment=True)


def variables_only(values: Mapping[str, str]) -> Settings:
    """Settings from ``values`` (``WEARMON_*`` names) only: neither the environment nor ``.env``
    is read (the demo, the test harness)."""
    return settings_from(values, read_environment=False)


def section_variables(cls: type[Section]) -> list[tuple[str, str]]:
    rows = []
    for name, variable in fields_of(cls):
        field = cls.model_fields[name]
        secret = "SecretStr" in str(field.annotation)
        default = field.default
        shown = ("secret" if secret else "unset" if default in ("", None)
                 else f"default {str(default).lower() if isinstance(default, bool) else default}")
        rows.append((variable, f"{shown}. {field.description}" if field.description else shown))
    return rows


def variables(sections: tuple[str, ...] = tuple(SECTIONS)
              ) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every ``WEARMON_*`` variable of these sections with its default and meaning, by section
    title, for ``--help`` texts.

    >>> dict(dict(variables(("kafka",)))["Broker"])["WEARMON_PARTITIONS"]
    'default 4. Partitions of every Wearmon topic'
    """
    out = []
    for name in sections:
        cls = SECTIONS[name]
        out.append((cls.title, section_variables(cls)))
        out += [(sub.title, section_variables(sub)) for sub in subsections(cls).values()]
    return out


def all_variables(sections: tuple[str, ...] = tuple(SECTIONS)) -> list[str]:
    return [variable for _, rows in variables(sections) for variable, _ in rows]


def markdown() -> str:
    """docs/configuration.md: every variable by section (``wearmon settings --markdown``)."""
    out = ["# Configuration", "",
           "Every setting is a `WEARMON_*` environment variable (or a line of `./.env`), read by",
           "`stream/config.py` in sections; an invalid value stops the process at start-up with",
           "the variable's name. `wearmon worker -h` shows the worker's sections. This page is",
           "generated by `wearmon settings --markdown` (a test keeps it in step).", ""]
    for title, rows in variables():
        out += [f"## {title}", "", "| variable | default and meaning |", "|---|---|"]
        out += [f"| `{variable}` | {text.replace('|', '/')} |" for variable, text in rows]
        out.append("")
    return "\n".join(out)
