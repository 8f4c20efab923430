"""The CPU platform's engine settings ``vLLM`` chooses (pure functions: no vllm needed)."""

from __future__ import annotations

import os

import pytest

from airflow_dististage.llms.vllm_cpu import (
    DEFAULT_KV_CACHE_BYTES,
    cpu_engine_environment,
    cpu_engine_kwargs,
    thread_binding,
)


def test_the_kv_cache_defaults_only_when_the_user_chose_no_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    defaulted = {"max_model_len": 8, "kv_cache_memory_bytes": DEFAULT_KV_CACHE_BYTES}
    assert cpu_engine_kwargs({"max_model_len": 8}) == defaulted
    assert cpu_engine_kwargs({"gpu_memory_utilization": 0.3}) == {"gpu_memory_utilization": 0.3}
    assert cpu_engine_kwargs({"kv_cache_memory_bytes": 5}) == {"kv_cache_memory_bytes": 5}
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")
    assert cpu_engine_kwargs({}) == {}


def test_thread_binding_splits_the_cores_between_workers() -> None:
    assert thread_binding(2, [0, 1]) == "0|1"
    assert thread_binding(2, [7, 4, 5, 6, 0, 1, 2, 3]) == "0-3|4-7"
    assert thread_binding(2, [0, 2, 4, 6, 8]) == "0,2,4|6,8"
    with pytest.raises(ValueError, match="needs at least 3 cores"):
        thread_binding(3, [0, 1])


def test_the_engine_environment_keeps_the_users_values_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0-1|2-3")
    with cpu_engine_environment(workers=2):
        assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
        assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "0-1|2-3"
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ
    assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "0-1|2-3"
