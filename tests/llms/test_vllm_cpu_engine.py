"""``vLLM`` for real on vLLM's CPU platform, with no engine options: one engine shared by every test here.

The engine runs in a child process (``tests/llms/vllm_cpu/engine_report.py``) that reports what it
saw; see the ``vllm_cpu`` fixture for when these tests skip or fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_dististage.llms.vllm_cpu import DEFAULT_KV_CACHE_BYTES
from tests.conftest import REPO_ROOT
from tests.llms.vllm_cpu.engine_report import ALL_SAMPLING

KV_CACHE_MIB = DEFAULT_KV_CACHE_BYTES / 2**20


@pytest.fixture(scope="module")
def report(vllm_cpu: None, tiny_model_dir: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.llms.vllm_cpu.engine_report", str(tiny_model_dir)],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))


def test_loads_on_the_cpu_platform_with_a_bounded_kv_cache(report: dict[str, Any]) -> None:
    assert report["runs_on_cpu"] is True
    assert report["proxies_module_kept"], "a module vLLM's kernel scan cannot read is back after the load"
    assert report["engine_kwargs"]["kv_cache_memory_bytes"] == DEFAULT_KV_CACHE_BYTES
    assert report["rss_loaded"] - report["rss_imported"] > 0.8 * KV_CACHE_MIB, "the KV cache is held"


def test_every_sampling_parameter_is_accepted_and_seeded(report: dict[str, Any]) -> None:
    outputs = report["all_sampling"]
    assert len(outputs) == 2
    for output, tokens in zip(outputs, report["prompt_tokens"]):
        assert len(output["generations"]) == 2
        assert output["statistics"]["input_tokens"] == [tokens, tokens]
        assert all(3 <= count <= ALL_SAMPLING["max_new_tokens"] for count in output["statistics"]["output_tokens"])
    assert report["all_sampling_again"] == outputs, "the same seed gives the same generations"


def test_stop_strings_cut_the_generation(report: dict[str, Any]) -> None:
    greedy = report["greedy"][0]["generations"][0]
    assert "stop" in report, f"the greedy text {greedy!r} has no word to stop at"
    assert report["stopped"][0]["generations"][0] == greedy[: greedy.index(report["stop"])]


def test_num_generations_and_chat_templates(report: dict[str, Any]) -> None:
    assert [len(output["generations"]) for output in report["three"]] == [3, 3]
    assert [output["statistics"]["input_tokens"][0] for output in report["three"]] == report["prompt_tokens"]
    custom = [output["statistics"]["input_tokens"][0] for output in report["custom"]]
    assert custom == report["custom_prompt_tokens"] != report["prompt_tokens"]


def test_unload_frees_the_memory_and_the_next_engine_loads(report: dict[str, Any]) -> None:
    assert report["rss_unloaded"] < report["rss_imported"] + 0.4 * KV_CACHE_MIB
    assert report["rss_reloaded"] - report["rss_unloaded"] > 0.8 * KV_CACHE_MIB
    assert report["rss_unloaded_again"] < report["rss_imported"] + 0.4 * KV_CACHE_MIB


def test_structured_output_is_valid_json_of_the_schema(report: dict[str, Any]) -> None:
    for output in report["structured"]:
        person = json.loads(output["generations"][0], strict=False)  # the tiny model writes control characters
        assert set(person) == {"name", "age"}
        assert isinstance(person["name"], str) and len(person["name"]) <= 8
        assert isinstance(person["age"], int)
