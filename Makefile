# Two set-up commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install influxd chromium bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

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

demo: $(STAMP)
	@command -v influxd >/dev/null || $(MAKE) influxd || echo "no InfluxDB: the demo runs without it"
	$(BIN)/wearmon demo

test: $(STAMP) influxd chromium lint
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check stream models tests wearmon
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/wearmon bench

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
