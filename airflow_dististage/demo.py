"""``make demo`` / ``make ui``: the example DAGs on a real Airflow started on loopback.

``python -m airflow_dististage.demo`` starts Airflow in ``.demo/`` with ``dags_examples/``, syncs
the GPU pool, runs the seed DAG through the scheduler, prints its stages, the run's state and where
its Distiset is, stops Airflow and exits (0 when the run succeeded).

``python -m airflow_dististage.demo --ui`` starts the same Airflow with a login, triggers the seed
DAG once and keeps the UI up until Ctrl-C, printing its URL, user and password.

``--home`` is emptied first only if an earlier demo created it (it holds :data:`HOME_MARKER`) or
it is empty; any other folder is refused, never deleted.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from airflow_dististage.devstack import AirflowApi, AirflowDevStack, DevStackError, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_DAG_ID = "seed_pipeline"
DEMO_GPUS = 1
RUN_TIMEOUT_S = 300.0
UI_PORT = 8080
HOME_MARKER = ".dististage-demo-home"


def prepare_home(home: Path) -> None:
    """Makes ``home`` an empty demo folder; deletes only a folder an earlier demo created.

    Raises:
        FileExistsError: ``home`` exists, is not empty and holds no :data:`HOME_MARKER`.
    """
    if (home / HOME_MARKER).is_file():
        shutil.rmtree(home)
    elif home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise FileExistsError(
            f"--home {str(home)!r} exists and was not created by the demo (no {HOME_MARKER} in it);"
            " it is left alone. Choose a new or empty folder, or delete it yourself."
        )
    home.mkdir(parents=True, exist_ok=True)
    (home / HOME_MARKER).write_text("Created by python -m airflow_dististage.demo; its next run deletes this folder.\n")


def main(argv: list[str] | None = None) -> int:
    """Runs the demo (or keeps the UI up with ``--ui``); returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m airflow_dististage.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ui", action="store_true", help="keep the Airflow UI up until Ctrl-C")
    parser.add_argument(
        "--home", type=Path, default=REPO_ROOT / ".demo", help="AIRFLOW_HOME to create (or recreate, if a demo made it)"
    )
    parser.add_argument("--dags", type=Path, default=REPO_ROOT / "dags_examples", help="DAG files to serve")
    args = parser.parse_args(argv)

    try:
        prepare_home(args.home)
    except FileExistsError as error:
        print(error, file=sys.stderr)
        return 2
    stack = AirflowDevStack(
        args.home,
        args.dags,
        gpus=DEMO_GPUS,
        all_admins=not args.ui,
        dag_processor=args.ui,
        unpaused_dags=[SEED_DAG_ID],
        api_port=free_port(UI_PORT if args.ui else 0),
    )
    print(f"Starting Airflow in {args.home} (logs: {stack.log_dir}) ...", flush=True)
    try:
        with stack:
            return _keep_ui_up(stack) if args.ui else _run_seed(stack)
    except DevStackError as error:
        print(f"Airflow did not start: {error}", file=sys.stderr)
        return 2
    except TimeoutError as error:
        print(f"{error}\n{stack.log_tails()}", file=sys.stderr)
        return 1


def _run_seed(stack: AirflowDevStack) -> int:
    print(stack.run_cli("dististage", "plan", SEED_DAG_ID).stdout.rstrip(), flush=True)
    api = stack.api()
    run = api.trigger_run(SEED_DAG_ID, run_id=f"demo__{int(time.time())}")
    print(f"Triggered run {run['dag_run_id']!r}; waiting up to {RUN_TIMEOUT_S:.0f} s ...", flush=True)
    run = api.wait_for_run(SEED_DAG_ID, run["dag_run_id"], timeout=RUN_TIMEOUT_S)
    for ti in sorted(api.task_instances(SEED_DAG_ID, run["dag_run_id"]), key=_started):
        print(f"  {ti['task_id']:<28} {ti['state']:<16} {ti['start_date']} -> {ti['end_date']}")
        if ti["state"] == "failed":
            log = api.task_log(SEED_DAG_ID, run["dag_run_id"], ti["task_id"], ti["try_number"], ti["map_index"])
            print("    " + "\n    ".join(log.splitlines()[-15:]))
    print(f"Run {run['dag_run_id']!r}: {run['state']}")
    published = _published_distiset(api, run["dag_run_id"])
    if published:
        print(f"Distiset (Asset event): {published.get('path')}  rows: {published.get('rows')}")
    else:
        print("No Distiset was published.")
    return 0 if run["state"] == "success" else 1


def _published_distiset(api: AirflowApi, run_id: str) -> dict[str, Any] | None:
    """Where the run saved its Distiset, from the extra of the Asset event the run emitted."""
    query = urllib.parse.urlencode({"source_dag_id": SEED_DAG_ID, "source_run_id": run_id})
    events = api.request("GET", f"/api/v2/assets/events?{query}")["asset_events"]
    return events[-1].get("extra") if events else None


def _keep_ui_up(stack: AirflowDevStack) -> int:
    api = stack.api()
    api.trigger_run(SEED_DAG_ID, run_id=f"ui_demo__{int(time.time())}")
    user, password = stack.login()
    print(f"\nAirflow UI: {stack.url}\n  user: {user}\n  password: {password}")
    print(f"  A run of {SEED_DAG_ID!r} was triggered; the other examples are paused (unpause them in the UI).")
    print("  Press Ctrl-C to stop Airflow.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while stack.running():
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nStopping Airflow ...")
        return 0
    print(f"An Airflow process exited; see {stack.log_dir}.", file=sys.stderr)
    return 1


def _started(ti: dict[str, Any]) -> str:
    return ti["start_date"] or ""


if __name__ == "__main__":
    sys.exit(main())
