# Two entry points: `make test` and `make demo`. Both create the git-ignored venv on first use
# and reinstall only when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install test demo ui

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

install: $(INSTALLED)

test: install
	$(PY) -m pytest tests

demo: install
	$(PY) -m airflow_dististage.demo

ui: install
	$(PY) -m airflow_dististage.demo --ui
