"""Wearmon's stream side, one room per concern (arrows only point down this list):

* ``tools/``, ``grafana/`` — what people run: demo, simulator and replay producers, benchmarks,
  admin CLI, dashboards as code;
* ``evaluation/`` — ``wearmon evaluate``: labelled datasets replayed through ``core`` and scored;
* ``datasets/`` — the public datasets' readers, a dataset as contract-v1 uploads, the simulator
  (pure: what ``tools/`` and ``evaluation/`` replay);
* ``worker/`` — the Faust shell: app, agents, the batch (pure ``process_batch``, effectful
  ``commit``), alert commands, notification agents, HTTP API, the patients directory;
* ``sinks/`` — InfluxDB line protocol and the awaited writer;
* ``notify/`` — alert events → rendered messages → outbox → delivery (Apprise);
* ``alerts/`` — the pure alert policy: findings over time → alert lifecycle events;
* ``core/`` — the pure per-upload path: contract, validation, features, pipeline, patient settings;
* ``config.py`` and ``kafka.py`` — settings and Kafka plumbing shared by the rooms above.

Detectors live in ``wearmon.models`` (pure, no I/O).
"""
