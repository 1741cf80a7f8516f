"""``wearmon bench``: each part of the path next to its baseline, on the same data, in one run.

For each upload size (samples per upload), on the same simulated patients:

* ``stage``: validation + ``process_many`` in the worker's batches + InfluxDB lines, one core,
  against ``orjson`` decoding of the same uploads (``stage``);
* ``e2e``: a real worker process through a backlog on a real broker into a real InfluxDB,
  against a plain aiokafka consumer decoding the same topic (``kafka_io``, ``worker_runs``);
* the sink: the worker's points against a raw bulk ``POST /write`` of the same points
  (``influx``);
* latency: produce → anomaly record on its topic at half the worker's maximum rate
  (``latency``);
* state and memory per patient, and the CPU per sample of two workers in a group against one
  (``worker_runs``).

``run.run_bench(BenchOptions(...))`` returns the figures by size; ``report`` prints and saves
them.
"""

from wearmon.stream.tools.bench.report import KEYS, problems, render, write_json
from wearmon.stream.tools.bench.run import BenchOptions, run_bench

__all__ = ["KEYS", "BenchOptions", "problems", "render", "run_bench", "write_json"]
