"""Throughput of ``TextGeneration`` + ``OpenAILLM`` against a server that answers in a fixed time.

A loopback OpenAI-compatible server (``tests/llms/openai_server.py``) answers every request after
``--latency`` seconds (200 ms); ``--rows`` rows (3,000) go through ``LoadDataFromDicts >>
TextGeneration`` with every setting at its default, once with ``pipeline.run()`` of this project and
once with distilabel 1.5.3 (``--distilabel-python``: an interpreter of a throwaway venv with
``distilabel==1.5.3 openai``; skipped when not given and not importable here). Each runs in its own
process; the server counts the requests in flight. It prints rows/s, the peak concurrency the server
saw, our rate against ``max_concurrency / latency`` (the most the default concurrency allows) and
against distilabel's.

    PYTHONPATH=. .venv/bin/python benchmarks/openai_throughput.py \\
        [--rows 3000] [--latency 0.2] [--distilabel-python /tmp/distilabel-venv/bin/python]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

from side_by_side import distilabel_python, print_result, run_side

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _instructions(count: int) -> list[dict[str, str]]:
    return [{"instruction": f"Write a haiku about the number {index}."} for index in range(count)]


def run_ours(base_url: str, count: int) -> dict[str, Any]:
    """Child mode: this project's pipeline.run(), defaults everywhere."""
    from airflow_dististage.llms import OpenAILLM
    from airflow_dististage.pipeline import Pipeline
    from airflow_dististage.steps import LoadDataFromDicts
    from airflow_dististage.steps.tasks import TextGeneration

    with tempfile.TemporaryDirectory() as store:
        with Pipeline(name="openai-throughput") as pipeline:
            llm = OpenAILLM(model="bench", base_url=base_url, api_key="not-a-secret")
            LoadDataFromDicts(data=_instructions(count)) >> TextGeneration(llm=llm)
        start = time.perf_counter()
        distiset = pipeline.run(use_cache=False, storage_parameters={"path": store}, show_progress=False)
        seconds = time.perf_counter() - start
        rows = distiset["default"]["train"].to_list()
    answered = sum(1 for row in rows if row.get("generation"))
    return {"seconds": seconds, "rows": len(rows), "answered": answered, "max_concurrency": llm.max_concurrency}


def run_distilabel(base_url: str, count: int) -> dict[str, Any]:
    """Child mode: distilabel's Pipeline.run(), defaults everywhere."""
    from distilabel.models import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    with Pipeline(name="openai-throughput") as pipeline:
        LoadDataFromDicts(data=_instructions(count)) >> TextGeneration(
            llm=OpenAILLM(model="bench", base_url=base_url, api_key="not-a-secret")
        )
    start = time.perf_counter()
    distiset = pipeline.run(use_cache=False)
    seconds = time.perf_counter() - start
    rows = distiset["default"]["train"].to_list()
    answered = sum(1 for row in rows if row.get("generation"))
    return {"seconds": seconds, "rows": len(rows), "answered": answered}


def _spawn(python: str, engine: str, base_url: str, count: int) -> dict[str, Any] | None:
    command = [python, os.path.abspath(__file__), "--one", engine, base_url, str(count)]
    env = {**os.environ, "PYTHONPATH": REPO_ROOT if engine == "ours" else ""}
    return run_side(command, engine, timeout=900, env=env, cwd=REPO_ROOT)


def _measure(server: Any, python: str, engine: str, count: int) -> dict[str, Any] | None:
    """One engine's run; ``serving_rows_per_second`` counts from the first request the server got to
    the last answer it sent (without the processes' start-up and the pipeline's tail)."""
    server.max_in_flight = 0
    server.arrivals.clear()
    result = _spawn(python, engine, server.base_url, count)
    if result is not None:
        arrivals = list(server.arrivals)
        serving = max(arrivals) + server.delay - min(arrivals)
        result.update(
            peak_in_flight=server.max_in_flight,
            rows_per_second=result["rows"] / result["seconds"],
            serving_seconds=serving,
            serving_rows_per_second=len(arrivals) / serving,
        )
        label = "ours" if engine == "ours" else "distilabel 1.5.3"
        print(
            f"{label:>17}: {result['rows']} rows ({result['answered']} answered) in {result['seconds']:.2f} s ="
            f" {result['rows_per_second']:.1f} rows/s end to end; {len(arrivals)} requests in"
            f" {serving:.2f} s = {result['serving_rows_per_second']:.1f}/s at the server; peak"
            f" {result['peak_in_flight']} requests in flight",
            flush=True,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server takes per request")
    parser.add_argument("--distilabel-python", help="an interpreter with distilabel 1.5.3 and openai installed")
    parser.add_argument("--one", nargs=3, metavar=("ENGINE", "BASE_URL", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        engine, base_url, count = args.one
        result = (run_ours if engine == "ours" else run_distilabel)(base_url, int(count))
        print_result(result)
        return

    sys.path.insert(0, REPO_ROOT)
    from latency_server import LatencyServer

    peer = distilabel_python(args.distilabel_python)
    print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}; {args.rows} rows; server latency"
          f" {args.latency * 1000:.0f} ms")
    with LatencyServer(delay=args.latency) as server:
        ours = _measure(server, sys.executable, "ours", args.rows)
        theirs = _measure(server, peer, "distilabel", args.rows) if peer else None
    if peer is None:
        print("distilabel: not importable here and no --distilabel-python given; skipped")
    if ours is None:
        return
    ceiling = ours["max_concurrency"] / args.latency
    for key, what in (("rows_per_second", "end to end"), ("serving_rows_per_second", "at the server")):
        print(
            f"{what}: ours / (max_concurrency {ours['max_concurrency']} / latency) = {ours[key]:.1f} / {ceiling:.0f}"
            f" = {ours[key] / ceiling:.2f} (target >= 0.7)"
            + (f"; ours / distilabel = {ours[key] / theirs[key]:.2f}x (target >= 3x)" if theirs else "")
        )


if __name__ == "__main__":
    main()
