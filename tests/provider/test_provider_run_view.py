"""The run view's app without a server: every run-view route asks Airflow who is calling, the tab
points at those routes, and the DAG document that locates a run's store reads back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from airflow.api_fastapi.core_api.security import get_user
from fastapi.routing import APIRoute

from airflow_dististage.compiler.options import CompileOptions, data_locations_doc, store_of_dag_doc
from airflow_dististage.provider import POOL_SIZE_ROUTE
from airflow_dististage.provider.plugin import EXTERNAL_VIEW, RUN_VIEW_PREFIX, URL_PREFIX, DististagePlugin, create_app
from airflow_dististage.provider.run_view import redacted


def _calls(dependant: Any) -> Iterator[Any]:
    yield dependant.call
    for dependency in dependant.dependencies:
        yield from _calls(dependency)


def test_every_route_but_the_pool_size_needs_an_airflow_user() -> None:
    routes = {route.path: route for route in create_app().routes if isinstance(route, APIRoute)}
    pool_route = POOL_SIZE_ROUTE.removeprefix(URL_PREFIX)

    assert set(routes) == {pool_route, RUN_VIEW_PREFIX, f"{RUN_VIEW_PREFIX}/data", f"{RUN_VIEW_PREFIX}/rows/{{step}}"}
    for path, route in routes.items():
        assert (get_user in set(_calls(route.dependant))) is (path != pool_route), path


def test_the_tab_frames_the_run_view_of_the_run_it_is_on() -> None:
    href = EXTERNAL_VIEW["href"].replace("{DAG_ID}", "my_dag").replace("{RUN_ID}", "manual__1")

    assert "/" + href == URL_PREFIX + RUN_VIEW_PREFIX.format(dag_id="my_dag", run_id="manual__1")
    assert EXTERNAL_VIEW["destination"] == "dag_run"
    assert DististagePlugin.external_views == [EXTERNAL_VIEW]


def test_the_publish_task_document_names_the_store() -> None:
    options = CompileOptions(dag_id="d", store="s3://bucket/store", output="/data/out", gpu_pool="gpu")

    assert store_of_dag_doc(data_locations_doc(options)) == "s3://bucket/store"
    for other in (None, "", "not json", "[1]", '{"store": 3}', '{"output": "/x"}'):
        assert store_of_dag_doc(other) is None


def test_problems_never_show_url_credentials() -> None:
    assert redacted("s3://key:secret@bucket/x and ftp://me@host/y") == "s3://***@bucket/x and ftp://***@host/y"
    assert redacted("/plain/folder") == "/plain/folder"
