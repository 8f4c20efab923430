"""The Airflow plugin: the api-server app at ``/dististage`` and the "Dististage run" tab of DAG runs.

Two things live in the one app the api-server mounts at :data:`URL_PREFIX`:

- ``GET /dististage/pools/<name>`` (:data:`airflow_dististage.provider.POOL_SIZE_ROUTE`): a pool's
  size, for the compiled DAG's GPU-pool check. Tasks cannot query pools themselves (Airflow 3
  blocks the ORM in tasks, the Execution API has no pool route, and the public REST API needs a
  user token), yet a run must fail fast when its GPU pool is missing or too small. The route
  answers ``{"name": ..., "slots": N}``, or 404 with ``{"name": ..., "slots": null, "detail": ...}``
  for a missing pool; the ``slots`` key tells the check it reached this plugin and not, say, the
  UI's catch-all page. It is unauthenticated by design: tasks hold no API token, and it tells
  only a pool's name and size (no other pool data, no write access). Expose the api-server accordingly.
- ``/dististage/runs/<dag_id>/<run_id>``: the run view (:mod:`.run_view`), authenticated like the
  REST API and framed by the UI through :data:`EXTERNAL_VIEW`.

Registered through the ``airflow.plugins`` entry point.
"""

from __future__ import annotations

import functools
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/dististage"
RUN_VIEW_PREFIX = "/runs/{dag_id}/{run_id}"
"""Where the run view of a DAG run lives, under :data:`URL_PREFIX`."""
EXTERNAL_VIEW = {
    "name": "Dististage run",
    # Relative, so the UI resolves it against its <base href> (any [api] base_url path).
    "href": URL_PREFIX.lstrip("/") + RUN_VIEW_PREFIX.format(dag_id="{DAG_ID}", run_id="{RUN_ID}"),
    "destination": "dag_run",
    "url_route": "dististage_run",
}
"""The ``external_views`` entry: a tab on every DAG run page that frames the run view."""


@functools.cache
def create_app() -> Any:
    """The FastAPI app with the pool-size route and the run view (one per process)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from airflow_dististage.provider.run_view import create_run_view_router

    app = FastAPI(title="airflow-dististage", description="Pool sizes and run views of airflow-dististage.")

    @app.get("/pools/{name}")
    def pool_size(name: str) -> Any:
        from airflow_dististage.provider.pools import read_pool

        pool = read_pool(name)
        if pool.slots is None:
            body = {"name": name, "slots": None, "detail": f"Pool {name!r} does not exist."}
            return JSONResponse(status_code=404, content=body)
        return {"name": pool.name, "slots": pool.slots}

    app.include_router(create_run_view_router())
    return app


class DististagePlugin(AirflowPlugin):
    """Mounts :func:`create_app` at ``/dististage`` on the api-server and adds the run-view tab."""

    name = "dististage"

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        # Built on first use only: every task process loads the plugins too, and needs no web app.
        return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "airflow-dististage"}]

    external_views = [EXTERNAL_VIEW]
