"""Helpers of the benchmarks that run this project and a peer (distilabel 1.5.3) side by side.

Each side runs as its own process (the benchmark script itself, with ``--one ...``), which prints
one ``RESULT <json>`` line; the peer's interpreter is a throwaway venv's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

RESULT_PREFIX = "RESULT "


def print_result(result: Mapping[str, Any]) -> None:
    """Prints a side's figures as the one line :func:`run_side` reads."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_side(
    command: Sequence[str], label: str, *, timeout: float, env: Mapping[str, str] | None = None, cwd: str | None = None
) -> dict[str, Any] | None:
    """Runs one side; its ``RESULT`` figures, or None (after printing its stderr tail) if it failed."""
    completed = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    print(f"  {label} failed:\n{completed.stderr[-3000:]}", file=sys.stderr)
    return None


def distilabel_python(explicit: str | None) -> str | None:
    """The interpreter that runs distilabel: ``explicit``, else this one if it imports distilabel, else None."""
    if explicit:
        return explicit
    try:
        import distilabel  # noqa: F401
    except ImportError:
        return None
    return sys.executable
