"""Parsing a compiled 100-step DAG file imports no heavy library (its time is in benchmarks/parse_cost.py)."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO_ROOT


def _parse_cost_module():
    spec = importlib.util.spec_from_file_location("parse_cost", REPO_ROOT / "benchmarks" / "parse_cost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_100_step_dag_file_imports_no_heavy_library(tmp_path):
    parse_cost = _parse_cost_module()
    dag_file = tmp_path / "parse_cost_100.py"
    dag_file.write_text(parse_cost.dag_file_source(100))

    result = parse_cost.measure_parse(dag_file, str(tmp_path))

    assert result["tasks"] == 100 + 2  # every step, the GPU-pool check and the publish task
    assert result["heavy_modules"] == []
    assert set(parse_cost.HEAVY_MODULES) >= {"torch", "vllm", "transformers", "datasets", "pandas"}
