"""The Faust app: topics, tables, the shared ``WorkerContext`` and the agents, wired together.

* ``process-telemetry`` (``worker.telemetry``): batches of uploads → ``process_batch`` (pure) →
  ``commit`` (InfluxDB, then topics, then tables);
* ``alert-commands`` and the escalation timer (``worker.commands``): care-team actions from the
  HTTP API and time-driven transitions, committed the same way;
* ``plan-notifications`` / ``deliver-notifications`` (``worker.notifications``): alert events →
  outbox → Apprise, idempotent per message;
* the HTTP API (``worker.api``) over the cluster-wide alerts view (``worker.alerts_feed``) and
  ``/health`` on the worker's web server.

Enrolled patients' settings come from the patients topic (``worker.directory``).
"""

from __future__ import annotations

from typing import Any

import faust

from wearmon.stream.config import Settings
from wearmon.stream.worker.alerts_feed import AlertsFeed
from wearmon.stream.worker.api import add_api, topic_sender
from wearmon.stream.worker.commands import add_alert_agents
from wearmon.stream.worker.commit import Sinks
from wearmon.stream.worker.context import WorkerContext
from wearmon.stream.worker.faust_consumer import use_worker_consumer
from wearmon.stream.worker.faust_io import (
    bytes_table,
    bytes_topic,
    faust_credentials,
)
from wearmon.stream.worker.history import add_history_agents
from wearmon.stream.worker.metrics import add_metrics_page
from wearmon.stream.worker.notifications import add_notify_agents
from wearmon.stream.worker.telemetry import add_telemetry_agent


def new_app(settings: Settings) -> faust.App:
    settings.require_broker()
    app = faust.App(
        settings.app_id,
        broker=settings.broker_urls,
        autodiscover=False,
        store="memory://",
        datadir=settings.state_dir,
        topic_partitions=settings.partitions,
        topic_allow_declare=True,
        table_standby_replicas=0,
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=settings.broker_heartbeat_interval_s,
        broker_rebalance_timeout=settings.broker_session_timeout_s,
        broker_credentials=faust_credentials(settings),
        topic_replication_factor=settings.replication_factor,
        producer_acks=-1,
        producer_max_batch_size=settings.producer_max_batch_bytes,
        consumer_auto_offset_reset="earliest",
        web_host=settings.web_host,
        web_bind=settings.web_host,  # Faust binds web_bind (default 0.0.0.0), not web_host
        # Faust's own pages (router, tables, stats, graph) show internals without a token
        web_router_enabled=settings.web_debug_pages,
        web_tables_enabled=settings.web_debug_pages,
        web_stats_enabled=settings.web_debug_pages,
        web_graph_enabled=settings.web_debug_pages,
        web_port=settings.web_port,
        web_in_thread=False,
    )
    use_worker_consumer(app, settings.fetch_max_wait_ms)
    return app


def create_app(settings: Settings) -> faust.App:
    app = new_app(settings)
    alerts = bytes_topic(app, settings.topic_alerts, settings)
    sinks = Sinks(
        influx=None,  # connected when the worker starts (``WorkerContext.ready``)
        rejected=bytes_topic(app, settings.topic_rejected, settings),
        anomalies=bytes_topic(app, settings.topic_anomalies, settings),
        alerts=alerts,
        dead_letter_max_bytes=settings.dead_letter_max_bytes,
    )
    context = WorkerContext.create(
        settings,
        patient_table=bytes_table(app, "patient-state", settings),
        alert_table=bytes_table(app, "alert-state", settings),
        sinks=sinks,
    )
    add_telemetry_agent(app, context, bytes_topic(app, settings.topic_telemetry, settings))
    commands = bytes_topic(app, settings.topic_alert_commands, settings)
    add_alert_agents(app, context, commands)
    add_notify_agents(app, context, alerts)
    add_history_agents(app, context, alerts)
    add_api(app, context, AlertsFeed(settings, topic_sender(commands)))
    add_metrics_page(app, context.gauges)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        # next_offsets_total: the sum of the next telemetry offsets to process, counted with the
        # totals once a batch is durable (a test's "everything handled" signal)
        return web.json({"worker": context.worker_name, **context.totals,
                         "next_offsets_total": sum(context.next_offsets.values())})

    return app
