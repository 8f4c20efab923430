"""Prints how long importing the package, building and planning a pipeline takes (50/200/1000 steps).

Each size runs in a fresh interpreter so the import is counted. Run: ``python benchmarks/plan_cost.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys, time
start = time.perf_counter()
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, step
imported = time.perf_counter()

@step(inputs=["x"], outputs=["x"])
def Pass(inputs: StepInput):
    yield inputs

@step(inputs=["x"], outputs=["x"], step_type="global")
def GlobalPass(inputs: StepInput):
    yield inputs

with Pipeline(name="bench") as pipeline:
    previous = LoadDataFromDicts(data=[{"x": 1}])
    for i in range(SIZE - 1):
        previous = previous >> (GlobalPass() if i % 10 == 9 else Pass())
built = time.perf_counter()
normal = [name for name in pipeline.steps if name.startswith("pass_")]
pipeline.get_load_stages(load_groups=[[name] for name in normal[::7]])
planned = time.perf_counter()
heavy = [m for m in ("torch", "vllm", "transformers", "datasets", "pandas") if m in sys.modules]
print(json.dumps({"import": imported - start, "build": built - imported, "plan": planned - built, "heavy": heavy}))
"""


def measure(size: int) -> dict[str, object]:
    """Runs the script for ``size`` steps in a fresh interpreter and returns its timings."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.replace("SIZE", str(size))],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"{'steps':>6} {'import s':>9} {'build s':>8} {'plan s':>7} {'total s':>8}  heavy modules")
    for size in (50, 200, 1000):
        m = measure(size)
        total = m["import"] + m["build"] + m["plan"]
        print(f"{size:>6} {m['import']:>9.3f} {m['build']:>8.3f} {m['plan']:>7.3f} {total:>8.3f}  {m['heavy'] or 'none'}")


if __name__ == "__main__":
    main()
