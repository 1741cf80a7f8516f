"""The Faust app of a worker: its topics and tables, and each flow's agents given only what
they use.

* telemetry (``worker.telemetry``): ``process-telemetry`` — batches of uploads → page → durable;
* care (``worker.care``): ``alert-commands`` and the escalation timer on the alert state,
  ``plan-notifications`` / ``deliver-notifications``, and the alerts HTTP API over the
  cluster-wide alerts view (``views.alerts_feed``);
* ``/health`` and ``/metrics`` on the worker's web server.

Both flows change patients only through one ``PatientStore`` and page under one lock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust

from wearmon.stream.config import Settings
from wearmon.stream.notify.next_steps import next_steps_of
from wearmon.stream.views.alerts_feed import AlertsFeed
from wearmon.stream.worker.care.api import add_api, topic_sender
from wearmon.stream.worker.care.commands import Commands, add_command_agent
from wearmon.stream.worker.care.notifications import (
    Delivery,
    LinkSigner,
    Notifications,
    add_notify_agents,
)
from wearmon.stream.worker.care.timer import EscalationTimer, add_escalation_timer
from wearmon.stream.worker.connections import Connections
from wearmon.stream.worker.dead_letters import DeadLetters
from wearmon.stream.worker.faust_consumer import use_worker_consumer
from wearmon.stream.worker.faust_io import (
    FaustPartitions,
    bytes_table,
    bytes_topic,
    faust_credentials,
)
from wearmon.stream.worker.faust_store import register as register_store
from wearmon.stream.worker.metrics import UNPROCESSED_DELETED, WorkerGauges, add_metrics_page
from wearmon.stream.worker.paging import PageTopics
from wearmon.stream.worker.patient_store import PatientStore
from wearmon.stream.worker.status import WorkerStatus
from wearmon.stream.worker.telemetry.agent import Telemetry, add_telemetry_agent
from wearmon.stream.worker.telemetry.durable import DurableTopics
from wearmon.stream.worker.telemetry.in_flight import InFlight
from wearmon.stream.worker.telemetry.process import BatchRules
from wearmon.stream.worker.telemetry.progress import Offsets, Tracker


def new_app(settings: Settings) -> faust.App:
    settings.require_broker()
    # one worker's own tables: a restart on this host with the same web port finds them
    datadir = Path(settings.worker.state_dir) / f"worker-{settings.worker.web_port}"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.kafka.app_id,
        broker=settings.kafka.broker_urls,
        autodiscover=False,
        store=register_store() if settings.worker.state_store == "rocksdb" else "memory://",
        datadir=str(datadir),
        topic_partitions=settings.kafka.partitions,
        topic_allow_declare=True,
        table_standby_replicas=0,
        broker_session_timeout=settings.kafka.broker_session_timeout_s,
        broker_heartbeat_interval=settings.kafka.broker_heartbeat_interval_s,
        broker_rebalance_timeout=settings.kafka.broker_session_timeout_s,
        broker_credentials=faust_credentials(settings),
        topic_replication_factor=settings.kafka.replication_factor,
        producer_acks=-1,
        producer_max_batch_size=settings.kafka.producer_max_batch_bytes,
        consumer_auto_offset_reset="earliest",
        web_host=settings.worker.web_host,
        web_bind=settings.worker.web_host,  # Faust binds web_bind (default 0.0.0.0), not web_host
        # Faust's own pages (router, tables, stats, graph) show internals without a token
        web_router_enabled=settings.worker.web_debug_pages,
        web_tables_enabled=settings.worker.web_debug_pages,
        web_stats_enabled=settings.worker.web_debug_pages,
        web_graph_enabled=settings.worker.web_debug_pages,
        web_port=settings.worker.web_port,
        web_in_thread=False,
    )
    use_worker_consumer(app, settings.kafka.fetch_max_wait_ms)
    return app


def rules_of(settings: Settings) -> BatchRules:
    return BatchRules(settings.uploads.limits(), int(settings.uploads.max_lateness_s * 1000))


async def flush_producer(app: faust.App) -> None:
    await app.producer.flush()


def create_app(settings: Settings) -> faust.App:
    app = new_app(settings)
    topics = settings.topics
    topic = {name: bytes_topic(app, getattr(topics, name), settings)
             for name in ("telemetry", "points", "alerts", "anomalies", "rejected",
                          "alert_commands", "alert_replies", "outbox", "deliveries")}
    patient_table = bytes_table(app, "patient-state", settings)
    connections = Connections(settings)
    store = PatientStore.over(patient_table, bytes_table(app, "alert-state", settings),
                              connections.directory, settings.worker.max_cached_patients)
    lock = asyncio.Lock()
    status = WorkerStatus()
    page_topics = PageTopics(alerts=topic["alerts"], anomalies=topic["anomalies"])

    def flush() -> Any:
        return flush_producer(app)

    telemetry = Telemetry(
        store=store, rules=rules_of(settings), lock=lock, connections=connections,
        page_topics=page_topics,
        durable_topics=DurableTopics(topic["points"], topic["rejected"],
                                     settings.uploads.dead_letter_max_bytes),
        offsets=Offsets(Tracker(patient_table, settings.kafka.partitions),
                        FaustPartitions(app, settings.topics.telemetry),
                        on_lost=UNPROCESSED_DELETED.inc),
        status=status, flush=flush, highwater=lambda tp: app.consumer.highwater(tp),
        in_flight=InFlight())
    add_telemetry_agent(app, topic["telemetry"], telemetry, settings.worker.batch_max_uploads,
                        settings.worker.batch_within_s)

    tick_s = settings.worker.alert_tick_s
    timer = EscalationTimer(store, topic["alert_commands"], int(tick_s * 1000))
    dead_letters = DeadLetters(topic["rejected"], settings.uploads.dead_letter_max_bytes)
    add_command_agent(app, topic["alert_commands"], Commands(
        store, lock, connections, page_topics, topic["alert_replies"], timer.ticked,
        dead_letters))
    add_escalation_timer(app, timer, tick_s, connections.directory)
    secret = settings.console.secret_key
    add_notify_agents(app, topic["alerts"], topic["outbox"], Notifications(
        connections, topic["outbox"], topic["deliveries"],
        bytes_table(app, "notify-sent", settings),
        LinkSigner(settings.console.url,
                   secret.get_secret_value().encode() if secret is not None else None,
                   settings.console.link_ttl_s),
        Delivery(settings.notify.max_attempts, settings.notify.backoff_s,
                 settings.notify.timeout_s),
        flush, dead_letters, next_steps_of(settings.notify)))
    api_token = settings.api.token.get_secret_value() if settings.api.token is not None else ""
    add_api(app, AlertsFeed(settings, topic_sender(topic["alert_commands"])),
            connections.directory, api_token, settings.api.wait_s)

    def gauges() -> WorkerGauges:
        return WorkerGauges(cached_patients=len(store.patients),
                            evicted_patients=store.patients.evicted,
                            enrolled_patients=len(connections.directory.by_patient))

    stall_s = settings.worker.ready_stall_s

    def ready() -> bool:
        status.directory_ready = connections.directory.ready
        return not status.reasons(stall_s)

    add_metrics_page(app, gauges, status, ready)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        """Alive (the process answers), with what it has handled."""
        return web.json(status.health())

    @app.page("/ready")
    async def readiness(web: Any, request: Any) -> Any:
        """Keeping up: 200, or 503 with the reasons."""
        status.directory_ready = connections.directory.ready
        answer = status.ready(stall_s)
        return web.json(answer, status=200 if answer["ready"] else 503)

    return app
