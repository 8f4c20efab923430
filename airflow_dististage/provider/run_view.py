"""The run view's routes, behind Airflow's own authentication (``/dististage/runs/<dag_id>/<run_id>...``).

- ``GET .../runs/<dag>/<run>``: the page (:mod:`.run_page`), shown in a "Dististage run" tab of
  Airflow's DAG run page (:data:`~.plugin.EXTERNAL_VIEW`);
- ``GET .../data``: the run's report (:mod:`~airflow_dististage.runtime.run_report`) with the
  Airflow run state and every task try, as JSON;
- ``GET .../rows/<step>?offset=&limit=``: a page of the step's first output rows
  (:mod:`~airflow_dististage.runtime.row_preview`).

Each route asks Airflow's auth manager, as the public REST API does: a request without a valid
token (the UI's ``_token`` cookie, or an ``Authorization: Bearer`` header) gets 401/403; the page
and report need read access to the DAG's runs, the rows read access to its XComs (task outputs).
The UI frames the page in an iframe sandboxed with ``allow-scripts allow-same-origin``, on the UI's
own origin, so the page's requests carry the login's ``_token`` cookie (HttpOnly, SameSite=Lax)
and need no token of their own.
The api-server reads the store with its own environment: give it the workers' read access
(e.g. the same ``AWS_*`` variables for ``s3://``).
"""

from __future__ import annotations

import re
import time
from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse

from airflow_dististage.provider.plugin import RUN_VIEW_PREFIX
from airflow_dististage.provider.run_lookup import RunLocation, RunNotFoundError, locate_run, task_tries
from airflow_dististage.provider.run_page import content_security_policy, render_page
from airflow_dististage.runtime.manifest import read_run_manifest
from airflow_dististage.runtime.row_preview import MAX_PAGE_ROWS, preview_rows
from airflow_dististage.runtime.run_report import report_from_manifest, step_report
from airflow_dististage.runtime.store import BatchStore

MAX_PROBLEM_CHARS = 500
_URL_CREDENTIALS = re.compile(r"//[^/@\s]+@")

_can_read_runs = Depends(requires_access_dag("GET", DagAccessEntity.RUN))
_can_read_outputs = Depends(requires_access_dag("GET", DagAccessEntity.XCOM))


def create_run_view_router() -> APIRouter:
    """The three routes of the run view (see the module docstring)."""
    router = APIRouter(prefix=RUN_VIEW_PREFIX)

    @router.get("", response_class=HTMLResponse, dependencies=[_can_read_runs])
    def run_page(dag_id: str, run_id: str, session: SessionDep) -> HTMLResponse:
        _located(dag_id, run_id, session)
        page, nonce = render_page(dag_id, run_id)
        headers = {"Content-Security-Policy": content_security_policy(nonce), "Cache-Control": "no-store"}
        return HTMLResponse(page, headers=headers)

    @router.get("/data", dependencies=[_can_read_runs])
    def run_data(dag_id: str, run_id: str, session: SessionDep) -> dict[str, Any]:
        location = _located(dag_id, run_id, session)
        answer: dict[str, Any] = {
            "dag_id": dag_id,
            "run_id": run_id,
            "airflow_state": location.state,
            "live": location.live,
            "store": redacted(location.store),
            "tries": task_tries(dag_id, run_id, session),
            "report": None,
            "problem": None,
            "updated_at": time.time(),
        }
        try:
            store = run_store(location)
            manifest = read_run_manifest(store)
            if manifest is None:
                answer["problem"] = "No step of this run has started yet: nothing in its store to show."
            else:
                answer["report"] = report_from_manifest(store, manifest, time.time()).as_dict()
        except Exception as error:  # noqa: BLE001 - an unreadable store is shown, not a server error
            answer["problem"] = _problem("The run's store cannot be read", error)
        return answer

    @router.get("/rows/{step}", dependencies=[_can_read_outputs])
    def step_rows(
        dag_id: str,
        run_id: str,
        step: str,
        session: SessionDep,
        offset: int = Query(0, ge=0),
        limit: int = Query(10, ge=1, le=MAX_PAGE_ROWS),
    ) -> dict[str, Any]:
        store = run_store(_located(dag_id, run_id, session))
        try:
            manifest = read_run_manifest(store)
            if manifest is None or step not in manifest.plan.steps:
                raise HTTPException(status_code=404, detail=f"Run {run_id!r} of {dag_id!r} has no step {step!r}.")
            data = store.step(step, manifest.fingerprints[step])
            report = step_report(data, manifest.plan.steps[step], time.time())
            return preview_rows(data, report, offset, limit).as_dict()
        except HTTPException:
            raise
        except Exception as error:  # noqa: BLE001 - shown in the preview, not a server error
            return {"step": step, "problem": _problem(f"The output of step {step!r} cannot be read", error)}

    return router


def _located(dag_id: str, run_id: str, session: Any) -> RunLocation:
    try:
        return locate_run(dag_id, run_id, session)
    except RunNotFoundError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None


def run_store(location: RunLocation) -> BatchStore:
    """The run's store, opened with the DAG's store connection if it has one; read-only in effect:
    this view never writes, and never unpickles."""
    return BatchStore(location.store, location.dag_id, location.run_id, conn_id=location.store_conn_id)


def redacted(text: str) -> str:
    """``text`` with the user and password of any URL in it masked."""
    return _URL_CREDENTIALS.sub("//***@", text)


def _problem(what: str, error: BaseException) -> str:
    return redacted(f"{what}: {type(error).__name__}: {error}")[:MAX_PROBLEM_CHARS]
