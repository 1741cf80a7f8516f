# Two set-up commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LOCK := requirements.lock

.PHONY: demo test lint install lock influxd chromium prometheus bench soak clean

# Exactly the pinned versions of requirements.lock (every dependency, the dev extra included),
# then the project itself without resolving anything again.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Regenerate the lock after changing dependencies in pyproject.toml. Pins already in the lock are
# kept when they still satisfy pyproject.toml; `make lock UPGRADE=--upgrade` moves to the newest.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --python-platform linux \
	  --custom-compile-command 'make lock' --quiet $(UPGRADE) --output-file $(LOCK)

# InfluxDB 1.x from Debian, used by the demo and the tests (skipped when already installed).
influxd:
	@command -v influxd >/dev/null || { \
	  echo "installing Debian's influxdb package"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb; }

# Debian's Chromium, driven by Playwright in the console's browser tests (skipped when present).
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium package"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Debian's prometheus (promtool) and prometheus-alertmanager (amtool): the tests check and run the
# alerting rules' unit tests and the Alertmanager config of deploy/prometheus/ (skipped when present).
prometheus:
	@command -v promtool >/dev/null && command -v amtool >/dev/null || { \
	  echo "installing Debian's prometheus and prometheus-alertmanager packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    prometheus prometheus-alertmanager; }

demo: $(STAMP)
	@command -v influxd >/dev/null || $(MAKE) influxd || echo "no InfluxDB: the demo runs without it"
	$(BIN)/wearmon demo

test: $(STAMP) influxd chromium prometheus lint
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check stream models tests wearmon
	$(BIN)/python tests/typecheck.py

# Every figure side by side (about 9 minutes on 2 cores), e.g. BENCH_ARGS="--json bench.json".
BENCH_ARGS ?=
bench: $(STAMP) influxd
	$(BIN)/wearmon bench $(BENCH_ARGS)

# The kill-and-restart fault tests, SOAK_RUNS times each (CI runs them 3 times in `make test`).
SOAK_RUNS ?= 50
soak: $(STAMP) influxd
	WEARMON_SOAK_RUNS=$(SOAK_RUNS) $(BIN)/pytest -q tests/integration/test_faults.py -k killed

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
