"""Benchmark of the local runner against distilabel 1.5.3 on a trivial five-step pipeline.

    LoadDataFromDicts(batch_size=1000) >> Upper >> Length >> Rank (global) >> Even

Prints, per configuration, the wall time of ``pipeline.run`` and peak memory: the runner's own
peak RSS and, per step, how far its process grew above its size when the step was loaded (a
step's memory should follow its batch size, not the dataset size: compare 200k with 2M rows).
Each configuration runs in a fresh Python process.

distilabel is not a dependency. Its figures are printed when it is importable here, or when
``--distilabel-python`` names an interpreter that has it (e.g. a throwaway venv); otherwise that
part is skipped.

    .venv/bin/python benchmarks/local_runner.py [--rows 1000 200000] [--memory-rows 200000 2000000]
        [--distilabel-python /tmp/distilabel-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from typing import Any

from side_by_side import distilabel_python, print_result, run_side

ROW_BATCH = 1000


def _rows(count: int) -> list[dict[str, str]]:
    return [{"instruction": f"write a poem about number {i}"} for i in range(count)]


def _rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = sorted(range(len(rows)), key=lambda index: rows[index]["length"])
    for rank, index in enumerate(order):
        rows[index]["rank"] = rank
    return rows


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class _MemoryProbe:
    """Resets the process's peak RSS when a step loads; records the growth when it unloads."""

    def __init__(self, folder: str | None, name: str) -> None:
        self.folder, self.name, self.start = folder, name, 0

    def loaded(self) -> None:
        if self.folder is None:
            return
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        self.start = _rss_kib("VmRSS")

    def unloaded(self) -> None:
        if self.folder is None:
            return
        growth = _rss_kib("VmHWM") - self.start
        with open(os.path.join(self.folder, f"{self.name}.json"), "w") as out:
            json.dump({"step": self.name, "peak_growth_mib": growth / 1024, "start_mib": self.start / 1024}, out)


def run_ours(count: int, memory_folder: str | None) -> dict[str, Any]:
    from airflow_dististage.pipeline import Pipeline
    from airflow_dististage.steps import GlobalStep, LoadDataFromDicts, Step, StepInput

    class _Probed(Step):
        memory_folder: str | None = None

        def load(self) -> None:
            self._probe = _MemoryProbe(self.memory_folder, self.name)
            self._probe.loaded()

        def unload(self) -> None:
            self._probe.unloaded()

    class Upper(_Probed):
        inputs = ["instruction"]
        outputs = ["upper"]

        def process(self, inputs: StepInput):
            for row in inputs:
                row["upper"] = row["instruction"].upper()
            yield inputs

    class Length(_Probed):
        inputs = ["upper"]
        outputs = ["length"]

        def process(self, inputs: StepInput):
            for row in inputs:
                row["length"] = len(row["upper"])
            yield inputs

    class Rank(GlobalStep):
        inputs = ["length"]
        outputs = ["rank"]

        def process(self, inputs: StepInput):
            yield _rank(inputs)

    class Even(_Probed):
        inputs = ["rank"]
        outputs = ["even"]

        def process(self, inputs: StepInput):
            for row in inputs:
                row["even"] = row["rank"] % 2 == 0
            yield inputs

    with Pipeline(name="benchmark") as pipeline:
        probe = {"memory_folder": memory_folder, "input_batch_size": ROW_BATCH}
        (
            LoadDataFromDicts(data=_rows(count), batch_size=ROW_BATCH)
            >> Upper(**probe)
            >> Length(**probe)
            >> Rank()
            >> Even(**probe)
        )
    with tempfile.TemporaryDirectory() as store:
        start = time.perf_counter()
        distiset = pipeline.run(use_cache=False, storage_parameters={"path": store}, show_progress=False)
        seconds = time.perf_counter() - start
        rows = distiset["default"]["train"].num_rows
    return {"seconds": seconds, "rows": rows}


def _define_distilabel_steps() -> None:
    """distilabel's steps for the same pipeline, as module globals (distilabel pickles step classes)."""
    import warnings

    warnings.filterwarnings("ignore")
    from distilabel.steps import GlobalStep, StepInput, step

    # distilabel finds `StepInput` through evaluated annotations; this module's are strings.
    def Upper(inputs):
        for row in inputs:
            row["upper"] = row["instruction"].upper()
        yield inputs

    def Length(inputs):
        for row in inputs:
            row["length"] = len(row["upper"])
        yield inputs

    def Even(inputs):
        for row in inputs:
            row["even"] = row["rank"] % 2 == 0
        yield inputs

    class Rank(GlobalStep):
        @property
        def inputs(self):
            return ["length"]

        @property
        def outputs(self):
            return ["rank"]

        def process(self, inputs):
            yield _rank(inputs)

    for function in (Upper, Length, Even, Rank.process):
        function.__annotations__ = {"inputs": StepInput}
    steps = {
        "Upper": step(inputs=["instruction"], outputs=["upper"])(Upper),
        "Length": step(inputs=["upper"], outputs=["length"])(Length),
        "Rank": Rank,
        "Even": step(inputs=["rank"], outputs=["even"])(Even),
    }
    for name, cls in steps.items():
        cls.__qualname__, cls.__module__ = name, __name__
    globals().update(steps)


def run_distilabel(count: int) -> dict[str, Any]:
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts

    with tempfile.TemporaryDirectory() as cache:
        with Pipeline(name="benchmark", cache_dir=cache) as pipeline:
            (
                LoadDataFromDicts(data=_rows(count), batch_size=ROW_BATCH)
                >> Upper(input_batch_size=ROW_BATCH)  # noqa: F821 - defined by _define_distilabel_steps
                >> Length(input_batch_size=ROW_BATCH)  # noqa: F821
                >> Rank()  # noqa: F821
                >> Even(input_batch_size=ROW_BATCH)  # noqa: F821
            )
        start = time.perf_counter()
        distiset = pipeline.run(use_cache=False)
        seconds = time.perf_counter() - start
        rows = distiset["default"]["train"].num_rows
    return {"seconds": seconds, "rows": rows}


def _one(engine: str, count: int, probe_memory: bool) -> None:
    """Child mode: one configuration; prints one JSON line."""
    with tempfile.TemporaryDirectory() as memory_folder:
        if engine == "ours":
            result = run_ours(count, memory_folder if probe_memory else None)
            steps = [json.load(open(os.path.join(memory_folder, name))) for name in sorted(os.listdir(memory_folder))]
            result["steps"] = steps
        else:
            result = run_distilabel(count)
    result["runner_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print_result(result)


def _spawn(python: str, engine: str, count: int, probe_memory: bool) -> dict[str, Any] | None:
    command = [python, os.path.abspath(__file__), "--one", engine, str(count)]
    if probe_memory:
        command.append("--probe-memory")
    return run_side(command, f"{engine} {count} rows", timeout=1800)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 200_000])
    parser.add_argument("--memory-rows", type=int, nargs="*", default=[200_000, 2_000_000])
    parser.add_argument("--distilabel-python", help="an interpreter with distilabel 1.5.3 installed")
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "ROWS"), help=argparse.SUPPRESS)
    parser.add_argument("--probe-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one[0], int(args.one[1]), args.probe_memory)
        return

    peer = distilabel_python(args.distilabel_python)
    print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    print(f"distilabel: {'run with ' + peer if peer else 'not importable, skipped'}")
    print(f"{'rows':>9}  {'ours s':>8}  {'runner MiB':>10}  {'distilabel s':>12}  {'ratio':>6}")
    for count in args.rows:
        ours = _spawn(sys.executable, "ours", count, probe_memory=False)
        theirs = _spawn(peer, "distilabel", count, probe_memory=False) if peer else None
        ours_text = f"{ours['seconds']:8.2f}  {ours['runner_peak_mib']:10.0f}" if ours else f"{'failed':>8}  {'':>10}"
        theirs_text = f"{theirs['seconds']:12.2f}" if theirs else f"{'-':>12}"
        ratio = f"{theirs['seconds'] / ours['seconds']:5.1f}x" if ours and theirs else f"{'-':>6}"
        print(f"{count:>9}  {ours_text}  {theirs_text}  {ratio}", flush=True)

    if args.memory_rows:
        print("\npeak memory growth of each normal step's process above its size at load (MiB):")
        for count in args.memory_rows:
            ours = _spawn(sys.executable, "ours", count, probe_memory=True)
            if ours is None:
                continue
            steps = ", ".join(f"{s['step']} {s['peak_growth_mib']:.1f}" for s in ours["steps"])
            print(
                f"{count:>9} rows: {steps}; runner peak {ours['runner_peak_mib']:.0f} MiB; run {ours['seconds']:.2f} s",
                flush=True,
            )


try:
    _define_distilabel_steps()
except ImportError:  # distilabel is optional: its part of the benchmark is skipped
    pass

if __name__ == "__main__":
    main()
