"""A runner killed with SIGKILL in the middle of a run, restarted, gives exactly the rows of an
uninterrupted run: none lost, none duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO_ROOT

SCRIPT = """
import json, sys
from airflow_dististage.pipeline import Pipeline
from tests.runtime.steps_for_tests import AddOne, KeepEven, Numbers, Reverse

with Pipeline(name="killed") as pipeline:
    Numbers(count=3000, batch_size=100) >> AddOne(name="slow", delay=0.02, input_batch_size=30) >> KeepEven(
        input_batch_size=40
    ) >> Reverse() >> AddOne(name="last", delay=0.01, input_batch_size=70)
distiset = pipeline.run(storage_parameters={"path": sys.argv[1]}, show_progress=False)
json.dump(distiset["default"]["train"].to_list(), open(sys.argv[2], "w"))
"""


def _start(script: Path, store: Path, output: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, str(script), str(store), str(output)],
        cwd=REPO_ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _parts(store: Path, step: str) -> list[str]:
    """Names of the parts of ``step`` (under its one lineage folder)."""
    return sorted(path.name for path in (store / "killed" / "local" / step).glob("*/parts/*.arrow"))


def kill_after_parts(runner: subprocess.Popen, store: Path, step: str, parts: int) -> int:
    """SIGKILLs ``runner`` once ``step`` committed at least ``parts`` parts; returns the parts committed then."""
    deadline = time.monotonic() + 60
    while len(_parts(store, step)) < parts:
        assert runner.poll() is None, runner.stderr.read().decode()
        assert time.monotonic() < deadline, "the runner made no progress"
        time.sleep(0.02)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(10)
    return len(_parts(store, step))


def test_sigkilled_run_resumes_to_identical_rows(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    store, output = tmp_path / "store", tmp_path / "rows.json"

    committed_before = kill_after_parts(_start(script, store, output), store, "slow", 20)
    assert 20 <= committed_before < 100
    assert not output.exists()

    resumed = _start(script, store, output)
    assert resumed.wait(120) == 0, resumed.stderr.read().decode()
    rows = json.loads(output.read_text())
    assert rows == [{"n": n + 2} for n in reversed(range(3000)) if (n + 1) % 2 == 0]
    (started,) = (store / "killed" / "local" / "slow").glob("*/markers/started-0.json")
    markers = json.loads(started.read_text())
    assert markers["attempt"] == 2
    _assert_no_orphans(tmp_path)


def _assert_no_orphans(tmp_path: Path) -> None:
    """The killed runner's step processes died with it (they would keep writing otherwise)."""
    time.sleep(0.5)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert str(tmp_path / "run.py").encode() not in command, f"orphan step process {pid}"
