# Two entry points: `make test` and `make demo`. Both create the git-ignored venv on first use
# and reinstall only when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: install chromium test demo ui

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

test: install chromium
	$(PY) -m pytest tests

demo: install
	$(PY) -m airflow_dististage.demo

ui: install
	$(PY) -m airflow_dististage.demo --ui
