"""The compiled DAG is a pure function of pipeline and options: same serialization on every parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow.serialization.serialized_objects import DagSerialization

from tests.compiler.conftest import build_gpu_pipeline
from tests.conftest import REPO_ROOT

_SERIALIZE = """
import json, sys
from airflow.serialization.serialized_objects import DagSerialization
from tests.compiler.conftest import build_gpu_pipeline
dag = build_gpu_pipeline().to_airflow(dag_id="same", store=sys.argv[1], output=sys.argv[2], load_groups=[["cpu"]])
print(json.dumps(DagSerialization.to_dict(dag), sort_keys=True))
"""


def _serialized(options: dict[str, str]) -> dict:
    dag = build_gpu_pipeline().to_airflow(dag_id="same", load_groups=[["cpu"]], **options)
    return DagSerialization.to_dict(dag)


def test_compiling_twice_gives_the_same_serialized_dag(compile_options):
    first, second = _serialized(compile_options), _serialized(compile_options)

    assert first == second
    text = json.dumps(first)
    assert " at 0x" not in text
    assert '"stage_0"' in text and "first__suffix" in text


def test_processes_with_other_hash_seeds_give_the_same_dag(compile_options):
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO_ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", _SERIALIZE, compile_options["store"], compile_options["output"]],
            capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120, check=True,
        )
        outputs.append(result.stdout.strip().splitlines()[-1])

    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["dag"]["dag_id"] == "same"


def test_the_dag_belongs_to_the_file_that_compiled_it(compile_options):
    dag = build_gpu_pipeline().to_airflow(dag_id="located", **compile_options)

    assert dag.fileloc == __file__
