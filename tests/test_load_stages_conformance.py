"""distilabel 1.5.3's own load-stage cases and edge cases (tests/data/load_stages.json)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.planning import LoadGroupsError
from airflow_dististage.steps import GeneratorStep, GlobalStep, Step, StepInput
from tests.conftest import REPO_ROOT

CONFORMANCE = REPO_ROOT / "tests" / "data" / "load_stages.json"
CASES = json.loads(CONFORMANCE.read_text())["cases"]


class _Gen(GeneratorStep):
    def process(self, offset: int = 0):
        yield [], True


class _Normal(Step):
    def process(self, *inputs: StepInput):
        yield inputs[0]


class _Global(GlobalStep):
    def process(self, *inputs: StepInput):
        yield inputs[0]


_KIND = {"generator": _Gen, "normal": _Normal, "global": _Global}


def build(case: dict[str, Any]) -> Pipeline:
    with Pipeline(name="conformance") as pipeline:
        steps = {s["name"]: _KIND[s["kind"]](name=s["name"]) for s in case["steps"]}
        for source, target in case["edges"]:
            steps[source] >> steps[target]
    return pipeline


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_conformance_case(case: dict[str, Any]) -> None:
    pipeline = build(case)
    expected = case["expected"]
    if expected["kind"] == "stages":
        stages, last_steps = pipeline.get_load_stages(load_groups=case["load_groups"])
        assert stages == expected["stages"]
        assert last_steps == expected["stages_last_steps"]
    else:
        with pytest.raises(LoadGroupsError) as error:
            pipeline.get_load_stages(load_groups=case["load_groups"])
        culprits = {name for group in case["load_groups"] for name in group}
        assert any(repr(name) in str(error.value) for name in culprits) or "empty" in str(error.value)


def test_groups_may_hold_step_objects() -> None:
    case = next(c for c in CASES if c["id"] == "T6")
    pipeline = build(case)
    groups = [[pipeline.steps[name] for name in group] for group in case["load_groups"]]
    assert pipeline.get_load_stages(load_groups=groups)[0] == case["expected"]["stages"]
