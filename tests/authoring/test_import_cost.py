"""Importing the package and planning a big pipeline must not pull heavy libraries in."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT

HEAVY = ("torch", "vllm", "transformers", "datasets", "pandas")


def test_building_and_planning_200_steps_imports_nothing_heavy() -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        import airflow_dististage
        from airflow_dististage.pipeline import Pipeline
        from airflow_dististage.steps import LoadDataFromDicts, StepInput, step

        @step(inputs=["x"], outputs=["x"])
        def Pass(inputs: StepInput):
            yield inputs

        with Pipeline(name="big") as pipeline:
            previous = LoadDataFromDicts(data=[{{"x": 1}}])
            for _ in range(199):
                previous = previous >> Pass()
        stages, _ = pipeline.get_load_stages()
        assert len(stages) == 1 and len(stages[0]) == 200
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
