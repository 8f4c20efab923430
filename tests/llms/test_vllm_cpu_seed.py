"""The two-model seed example on vLLM's CPU platform, as a user's script, with no vLLM variable set.

It runs both ways a user writes it: ``pipeline.run()`` at module level and under the ``__main__``
guard. Each script is a child process with a time limit: a re-entered ``__main__`` would hang.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

ROWS = 6
_PIPELINE = """
import json, sys
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import StepResources, LoadDataFromDicts
from airflow_dististage.steps.tasks import TextGeneration
from airflow_dististage.llms import vLLM

MODEL, STORE, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Pipeline(name="two-models") as pipeline:
    load = LoadDataFromDicts(data=[{{"instruction": f"write a poem {{i}}"}} for i in range(N)])
    text_generation_0 = TextGeneration(llm=vLLM(model=MODEL, extra_kwargs={extra}), resources=StepResources(gpus=1))
    text_generation_1 = TextGeneration(llm=vLLM(model=MODEL, extra_kwargs={extra}), resources=StepResources(gpus=1))
    load >> [text_generation_0, text_generation_1]
"""
_RUN = """
distiset = pipeline.run(load_groups=[[text_generation_0.name]], use_cache=False, storage_parameters={"path": STORE})
print("RESULT " + json.dumps({name: distiset[name]["train"].to_list() for name in distiset}))
"""
FORMS = {
    # The module-level form is the example verbatim (vLLM compiles the model: slower to load).
    "module_level": (_PIPELINE.format(extra='{"max_model_len": 1024}') + _RUN),
    "main_guard": (
        _PIPELINE.format(extra='{"max_model_len": 1024, "enforce_eager": True}')
        + 'if __name__ == "__main__":\n'
        + textwrap.indent(_RUN, "    ")
    ),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_seed_two_models_runs_on_cpu(vllm_cpu: None, tiny_model_dir: Path, tmp_path: Path, form: str) -> None:
    script = tmp_path / f"seed_{form}.py"
    script.write_text(FORMS[form])
    env = {name: value for name, value in os.environ.items() if not name.startswith("VLLM_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    completed = subprocess.run(
        [sys.executable, str(script), str(tiny_model_dir), str(tmp_path / "store"), str(ROWS)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, "the script ran its pipeline exactly once"
    result = json.loads(lines[0].removeprefix("RESULT "))
    assert sorted(result) == ["text_generation_0", "text_generation_1"]
    for name, rows in result.items():
        assert [row["instruction"] for row in rows] == [f"write a poem {i}" for i in range(ROWS)]
        assert all(isinstance(row["generation"], str) for row in rows)
        assert all(row["distilabel_metadata"][f"statistics_{name}"]["output_tokens"] >= 1 for row in rows)
    assert completed.stderr.count("it runs without a GPU") + completed.stderr.count("claims none") == 2, (
        "one warning per GPU step"
    )
