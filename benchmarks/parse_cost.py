"""How long Airflow takes to parse a DAG file compiled from an N-step pipeline, and what it imports.

Each measurement runs in a fresh Python process that has imported ``airflow.sdk`` already (as
Airflow's DAG processor has) and then imports the DAG file: the time covers importing
airflow-dististage, building the pipeline and compiling it. Run::

    .venv/bin/python benchmarks/parse_cost.py [--steps 10 100 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HEAVY_MODULES = ("torch", "vllm", "transformers", "datasets", "pandas")

_DAG_FILE = '''\
"""A synthetic {steps}-step pipeline: a generator, then a chain of steps with a global step every 25."""

from __future__ import annotations

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, StepResources, step
from airflow_dististage.typing import StepOutput


@step(inputs=["text"], outputs=["text"])
def Echo(inputs: StepInput) -> StepOutput:
    yield inputs


@step(inputs=["text"], outputs=["text"], step_type="global")
def Gather(inputs: StepInput) -> StepOutput:
    yield inputs


with Pipeline(name="parse-cost-{steps}") as pipeline:
    previous = LoadDataFromDicts(data=[{{"text": "hello"}}])
    for index in range(1, {steps}):
        if index % 25 == 0:
            current = Gather()
        else:
            current = Echo(resources=StepResources(gpus=1) if index % 10 == 0 else StepResources())
        previous >> current
        previous = current

dag = pipeline.to_airflow(dag_id="parse_cost_{steps}", store="/tmp/parse-cost/store", output="/tmp/parse-cost/out")
'''

_PROBE = textwrap.dedent(
    """
    import importlib.util, json, sys, time
    import airflow.sdk  # the DAG processor has imported Airflow before it parses a file
    spec = importlib.util.spec_from_file_location("parse_cost_dag", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    started = time.perf_counter()
    spec.loader.exec_module(module)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "seconds": seconds,
        "tasks": len(module.dag.task_ids),
        "heavy_modules": [name for name in sys.argv[2:] if name in sys.modules],
    }))
    """
)


def dag_file_source(steps: int) -> str:
    """Source of a DAG file whose pipeline has ``steps`` steps (``steps >= 2``)."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}.")
    return _DAG_FILE.format(steps=steps)


def measure_parse(dag_file: Path, airflow_home: str) -> dict:
    """Imports ``dag_file`` in a fresh process; returns seconds, task count and heavy modules loaded."""
    env = {**os.environ, "AIRFLOW_HOME": airflow_home}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(dag_file), *HEAVY_MODULES],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Parsing {dag_file} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the best is reported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dististage-parse-cost-") as workdir:
        print(f"{'steps':>6} {'tasks':>6} {'best s':>8} {'worst s':>8}  heavy modules imported")
        for steps in args.steps:
            dag_file = Path(workdir) / f"parse_cost_{steps}.py"
            dag_file.write_text(dag_file_source(steps))
            runs = [measure_parse(dag_file, workdir) for _ in range(args.repeat)]
            seconds = sorted(run["seconds"] for run in runs)
            heavy = sorted({name for run in runs for name in run["heavy_modules"]}) or "none"
            print(f"{steps:>6} {runs[0]['tasks']:>6} {seconds[0]:>8.3f} {seconds[-1]:>8.3f}  {heavy}")


if __name__ == "__main__":
    main()
