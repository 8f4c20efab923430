"""Records what distilabel 1.5.3 outputs for each corpus pipeline (run by hand, never by the test suite).

    python tests/compat/record.py [--venv /tmp/distilabel-venv] [--wheel PATH] [name ...]

Creates (once) a throwaway virtual environment with distilabel 1.5.3 from its wheel, runs each
pipeline of ``tests/compat/pipelines`` there, unchanged, in its own process and work folder, and
writes its Distiset to ``tests/compat/recorded/<name>.json`` (see ``harness.distiset_to_json``).
distilabel never runs in the project's environment. A pipeline that fails under distilabel is
reported and recorded nowhere (also when distilabel only logs that a batch failed, which it
does instead of stopping); the exit status is then 1. A pipeline that hangs under distilabel is
stopped after ``PIPELINE_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402 - the folder above is not a package

DEFAULT_VENV = Path("/tmp/distilabel-venv")
DEFAULT_WHEEL = Path("/tmp/distilabel_wheel/distilabel-1.5.3-py3-none-any.whl")
# distilabel 1.5.3 predates datasets 4 and pandas 3; pyarrow as in the project, so Arrow types compare;
# pillow because Distiset.save_to_disk writes a dataset card that imports PIL.
REQUIREMENTS = ["datasets>=3,<4", "pandas<3", "pyarrow==26.0.1", "pillow"]
PIPELINE_TIMEOUT_SECONDS = 180
STEP_FAILED = "Sending empty batch filled with"
LOG_ENVIRONMENT = {**os.environ, "COLUMNS": "1000"}  # rich would wrap distilabel's log lines at 80 columns


def ensure_venv(venv: Path, wheel: Path) -> Path:
    """The venv's interpreter, creating the venv and installing distilabel when it has none."""
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import distilabel"], capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", str(wheel), *REQUIREMENTS], check=True)
    return python


def record(python: Path, names: list[str]) -> list[str]:
    """Runs and records ``names``; returns those that failed."""
    failed = []
    with tempfile.TemporaryDirectory(prefix="distilabel-compat-") as scratch:
        for name in names:
            output = harness.RECORDED_DIR / f"{name}.json"
            command = [
                python, str(HERE / "harness.py"), str(harness.PIPELINES_DIR), name, f"{scratch}/{name}", str(output)
            ]
            print(f"recording {name} ...", flush=True)
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=PIPELINE_TIMEOUT_SECONDS, env=LOG_ENVIRONMENT
                )
            except subprocess.TimeoutExpired:
                print(f"  {name}: timed out after {PIPELINE_TIMEOUT_SECONDS} s", flush=True)
                failed.append(name)
                continue
            log = done.stdout + done.stderr
            if done.returncode != 0 or STEP_FAILED in log:
                # distilabel logs a failed batch and goes on with its output columns set to None.
                print(f"  {name} failed under distilabel:\n{log[-6000:]}", flush=True)
                output.unlink(missing_ok=True)
                failed.append(name)
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--wheel", type=Path, default=DEFAULT_WHEEL)
    parser.add_argument("names", nargs="*", help="pipelines to record (default: all)")
    args = parser.parse_args()
    names = args.names or harness.pipeline_names()
    unknown = sorted(set(names) - set(harness.pipeline_names()))
    if unknown:
        parser.error(f"unknown pipelines {unknown}; known: {harness.pipeline_names()}")
    harness.RECORDED_DIR.mkdir(exist_ok=True)
    failed = record(ensure_venv(args.venv, args.wheel), names)
    print(f"recorded {len(names) - len(failed)} of {len(names)}" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
