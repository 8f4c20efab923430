"""The run view in a real browser: Airflow's login, then the "Dististage run" tab of a live and of a
finished run, checked against the run's store; and its routes refuse requests without a login."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, FrameLocator, Page, sync_playwright

from airflow_dististage.devstack import AirflowApi, AirflowDevStack
from airflow_dististage.runtime.run_report import RunReport, read_run_report
from airflow_dististage.runtime.store import BatchStore
from tests.airflow.conftest import RUN_TIMEOUT_S, RUNS
from tests.airflow.dags.run_view_pipelines import BATCH_SIZE, LONG_TEXT, MARKUP, ROWS

pytestmark = pytest.mark.airflow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 90_000
LIVE_DAG = "run_view_live"
LIVE_RUN = "e2e_run_view"
VIEW = "Dististage run"
DASH = "\u2014"
ROW_FIGURES = (
    "row => Object.fromEntries([...row.querySelectorAll('[data-field]')].map(c => [c.dataset.field, c.textContent]))"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"The run-view test drives Debian's Chromium: install {CHROMIUM} (`make test` does, as root).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser: Browser, airflow_stack: AirflowDevStack) -> Iterator[Page]:
    """A browser tab logged in to the stack through Airflow's login form."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(WAIT_MS)
    user, password = airflow_stack.login()
    page.goto(airflow_stack.url + "/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/" not in url)
    yield page
    page.close()


def _store_report(stack: AirflowDevStack, dag_id: str, run_id: str) -> RunReport:
    """The run's report read straight from its store (``[dististage] store`` defaults under AIRFLOW_HOME)."""
    report = read_run_report(BatchStore(str(stack.home / "dististage" / "store"), dag_id, run_id))
    assert report is not None, f"run {run_id} of {dag_id} has no manifest in its store"
    return report


def _open_view(page: Page, stack: AirflowDevStack, dag_id: str, run_id: str) -> FrameLocator:
    """The run's "Dististage run" tab, as the DAG run page of Airflow's UI frames it."""
    page.goto(f"{stack.url}/dags/{dag_id}/runs/{run_id}/plugin/dististage_run")
    return page.frame_locator(f"iframe[title='{VIEW}']")


def _figures(frame: FrameLocator, selector: str) -> dict[str, dict[str, str]]:
    """``{row key: {field: text}}`` of the rows matching ``selector``, read in one go (a refresh cannot split it)."""
    rows = frame.locator(selector).evaluate_all(f"rows => rows.map({ROW_FIGURES})")
    keys = frame.locator(selector).evaluate_all("rows => rows.map(row => row.dataset.step || row.dataset.replica)")
    return dict(zip(keys, rows))


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _assert_matches_store(frame: FrameLocator, report: RunReport, api: AirflowApi, dag_id: str) -> None:
    """Every stage, step and replica figure of the finished view equals the store's; each replica's
    last Airflow try is the task instance's."""
    headings = frame.locator("h2[data-stage]").all_inner_texts()
    assert [heading.split()[:2] for heading in headings] == [["Stage", str(stage.index)] for stage in report.stages]
    steps = _figures(frame, "tr[data-step]")
    assert list(steps) == list(report.steps), "steps in stage order"
    for name, step in report.steps.items():
        shown = steps[name]
        assert shown["state"] == step.state == "finished"
        for field in ("rows_in", "rows_out", "batches_in", "batches_out"):
            assert _number(shown[field]) == step.total(field), (name, field)
        assert _number(shown["replicas"]) == len(step.replicas)
        for field in ("input_tokens", "output_tokens"):  # 0 for these steps without an LLM
            assert _number(shown[field]) == step.total(field) == 0, (name, field)
    replicas = _figures(frame, "tr[data-replica]")
    last_tries = {
        (ti["task_id"], max(ti["map_index"], 0)): f"#{ti['try_number']} {ti['state']}"
        for ti in api.task_instances(dag_id, report.run_id)
    }
    for name, step in report.steps.items():
        for replica in step.replicas:
            shown = replicas[f"{name}/{replica.replica}"]
            assert _number(shown["rows_out"]) == replica.rows_out
            assert shown["gpus"] == (", ".join(map(str, replica.gpus)) or DASH)
            assert shown["generation"] == replica.generation
            last_try = last_tries[name, replica.replica]
            assert last_try.endswith(" success")
            assert shown["tries"].split(", ")[-1] == last_try


def test_the_view_follows_a_live_run_then_shows_its_store(
    page: Page, airflow_stack: AirflowDevStack, api: AirflowApi, tmp_path: Path
) -> None:
    release = tmp_path / "release"  # the run's generator holds its last batch until this file exists
    body = {"logical_date": None, "dag_run_id": LIVE_RUN, "conf": {"trickle__release_file": str(release)}}
    api.request("POST", f"/api/v2/dags/{LIVE_DAG}/dagRuns", body)
    frame = _open_view(page, airflow_stack, LIVE_DAG, LIVE_RUN)

    held = str(ROWS - BATCH_SIZE)
    frame.locator("tr[data-step=trickle] td[data-field=rows_out]", has_text=held).wait_for()
    shown = _figures(frame, "tr[data-step]")
    stored = _store_report(airflow_stack, LIVE_DAG, LIVE_RUN)
    assert list(shown) == list(stored.steps)
    assert shown["trickle"]["state"] == stored.steps["trickle"].state == "running"
    assert _number(shown["trickle"]["batches_out"]) == stored.steps["trickle"].total("batches_out")
    for name, step in stored.steps.items():
        assert _number(shown[name]["rows_out"]) <= (step.total("rows_out") or 0), "the store is never behind the view"
    assert frame.locator("body[data-live=true]").count() == 1
    refreshes = _number(frame.locator("body").get_attribute("data-refreshed"))
    page.screenshot(path=tmp_path / "run_view_live.png")

    release.touch()
    run = api.wait_for_run(LIVE_DAG, LIVE_RUN, timeout=RUN_TIMEOUT_S)
    assert run["state"] == "success", airflow_stack.log_tails()
    frame.locator("body[data-live=false]").wait_for()
    assert _number(frame.locator("body").get_attribute("data-refreshed")) > refreshes, "it refreshed while live"
    _assert_matches_store(frame, _store_report(airflow_stack, LIVE_DAG, LIVE_RUN), api, LIVE_DAG)

    preview = frame.locator("details[data-preview=trickle]")
    preview.locator("summary").click()
    first = preview.locator("table tr").nth(1)
    first.wait_for()
    cells = first.locator("td").all_inner_texts()
    assert cells[0] == "row 0"
    assert cells[1].endswith("…") and LONG_TEXT.startswith(cells[1][:-1]) and len(cells[1]) < len(LONG_TEXT)
    assert cells[2] == MARKUP, "markup in a row shows as text"
    assert frame.locator("#injected").count() == 0
    preview.locator("button[data-action=next]").click()
    preview.locator("td", has_text="row 10").first.wait_for()
    page.screenshot(path=tmp_path / "run_view_finished.png")


def test_the_view_of_a_finished_gpu_run_names_the_devices(
    page: Page, airflow_stack: AirflowDevStack, api: AirflowApi, wait_for: Any, tmp_path: Path
) -> None:
    standin = RUNS["standin"]
    assert wait_for("standin")["state"] == "success"
    frame = _open_view(page, airflow_stack, standin.dag_id, standin.run_id)
    frame.locator("body[data-live=false]").wait_for()

    report = _store_report(airflow_stack, standin.dag_id, standin.run_id)
    _assert_matches_store(frame, report, api, standin.dag_id)
    steps = _figures(frame, "tr[data-step]")
    assert steps["gpu_a"]["gpus"] == steps["gpu_b"]["gpus"] == "0", "the one stand-in GPU of the pool"
    assert steps["slow_rows"]["gpus"] == "none"
    page.screenshot(path=tmp_path / "run_view_gpu.png")


@pytest.mark.parametrize("route", ["", "/data", "/rows/slow_rows"])
def test_the_view_refuses_requests_without_a_login(airflow_stack: AirflowDevStack, route: str) -> None:
    standin = RUNS["standin"]
    url = f"{airflow_stack.url}/dististage/runs/{standin.dag_id}/{standin.run_id}{route}"

    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer forged"}, timeout=30).status_code == 403
    assert httpx.get(url, cookies={"_token": "forged"}, timeout=30).status_code in (401, 403)
