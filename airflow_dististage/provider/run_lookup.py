"""What the api-server knows about a DAG run that the store does not: its state, its store, its tries.

A compiled DAG's publish task carries a ``doc_json`` naming the DAG's store
(:func:`~airflow_dististage.compiler.options.data_locations_doc`), serialized with the DAG, so
the run's DAG version tells where its batches are without importing the DAG file: under
``<store>/<dag_id>/<run_id>/``, where the run manifest its step tasks publish names its steps.
Used inside the api-server, with its database session.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

LIVE_RUN_STATES = frozenset({"queued", "running"})


class RunNotFoundError(LookupError):
    """No such DAG run, or its DAG is not a compiled airflow-dististage pipeline; the message says which."""


@dataclass(frozen=True)
class RunLocation:
    """A DAG run's Airflow state and the store URL its DAG version writes to."""

    dag_id: str
    run_id: str
    state: str
    store: str
    store_conn_id: str | None = None

    @property
    def live(self) -> bool:
        """Whether Airflow may still run tasks of it (the view keeps refreshing)."""
        return self.state in LIVE_RUN_STATES


@functools.cache
def _dag_bag() -> Any:
    from airflow.api_fastapi.common.dagbag import create_dag_bag

    return create_dag_bag()


def locate_run(dag_id: str, run_id: str, session: Session) -> RunLocation:
    """The run's state and store.

    Raises:
        RunNotFoundError: the run does not exist, or its DAG version has no dististage publish task.
    """
    from sqlalchemy import select

    from airflow.models.dagrun import DagRun
    from airflow_dististage.compiler.graph import PUBLISH_TASK_ID
    from airflow_dististage.compiler.options import store_conn_of_dag_doc, store_of_dag_doc

    dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if dag_run is None:
        raise RunNotFoundError(f"DAG {dag_id!r} has no run {run_id!r}.")
    dag = _dag_bag().get_dag_for_run(dag_run, session=session)
    task = dag.task_dict.get(PUBLISH_TASK_ID) if dag is not None else None
    doc_json = getattr(task, "doc_json", None)
    store = store_of_dag_doc(doc_json)
    if store is None:
        raise RunNotFoundError(
            f"DAG {dag_id!r} (the version run {run_id!r} ran) is not an airflow-dististage pipeline, or was"
            " compiled by a version without the run view: its run cannot be shown here."
        )
    state = getattr(dag_run.state, "value", dag_run.state)
    return RunLocation(
        dag_id=dag_id, run_id=run_id, state=str(state), store=store, store_conn_id=store_conn_of_dag_doc(doc_json)
    )


def task_tries(dag_id: str, run_id: str, session: Session) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """Every try of every task of the run, ``{task_id: {map_index or 0: [try, ...]}}`` in try order.

    A try is ``{"try_number", "state", "start_date", "end_date", "duration"}`` (ISO dates). A step's
    task id is its name and a replica's map index its number, so these are the steps' attempts as
    Airflow saw them (a reschedule is not a new try).
    """
    from sqlalchemy import select

    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory

    tries: dict[str, dict[int, dict[int, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for model in (TaskInstanceHistory, TaskInstance):  # the current try last: it wins a duplicate
        query = select(model).where(model.dag_id == dag_id, model.run_id == run_id)
        for ti in session.scalars(query):
            if ti.try_number:
                tries[ti.task_id][max(ti.map_index, 0)][ti.try_number] = _try(ti)
    return {
        task: {index: [entries[number] for number in sorted(entries)] for index, entries in by_index.items()}
        for task, by_index in tries.items()
    }


def _try(ti: Any) -> dict[str, Any]:
    return {
        "try_number": ti.try_number,
        "state": None if ti.state is None else str(getattr(ti.state, "value", ti.state)),
        "start_date": None if ti.start_date is None else ti.start_date.isoformat(),
        "end_date": None if ti.end_date is None else ti.end_date.isoformat(),
        "duration": ti.duration,
    }
