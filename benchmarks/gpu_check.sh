#!/usr/bin/env bash
# GPU check: TransformersLLM through pipeline.run() on a claimed GPU vs direct transformers (tokens/s).
#
# Needs a host with PyTorch (CUDA) and transformers; no vLLM, no internet (the default model is the
# tiny test model, built offline; --model takes a local folder). Works from a bare checkout: the
# package is used from the checkout (PYTHONPATH), not installed; only what pipeline.run() imports
# besides torch/transformers and is missing is pip-installed (Airflow is not needed for it).
#
#   benchmarks/gpu_check.sh [--model PATH] [--rows 512] [--max-new-tokens 64] [--prompts-per-call 256]
#   benchmarks/gpu_check.sh --cpu --rows 64 --max-new-tokens 8   # smoke run of the logic on a CPU host
#
# PYTHON picks the interpreter (default python3). It stops after 470 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

missing=$("$PYTHON" - <<'PY'
import importlib.util
import sys

if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
    sys.exit("gpu_check: this interpreter lacks torch or transformers; set PYTHON to one that has them")
needed = {"networkx": "networkx", "datasets": "datasets", "pyarrow": "pyarrow", "fsspec": "fsspec",
          "yaml": "pyyaml", "jinja2": "jinja2", "huggingface_hub": "huggingface_hub", "packaging": "packaging"}
print(" ".join(package for module, package in needed.items() if importlib.util.find_spec(module) is None))
PY
)
if [ -n "$missing" ]; then
    echo "gpu_check: installing what pipeline.run() needs and this interpreter lacks: $missing"
    "$PYTHON" -m pip install --quiet $missing
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 470 "$PYTHON" benchmarks/transformers_throughput.py "$@"
