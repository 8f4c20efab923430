"""load_groups="auto": fewest stages within the GPUs, checked against an exhaustive search, and its errors."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.planning import (
    EXACT_SEARCH_LIMIT,
    ExecutionPlan,
    LoadGroupsError,
    StagePlan,
    StepPlan,
    explain_cuts,
    plan_auto_stages,
    plan_load_stages,
)
from airflow_dististage.planning.auto_problem import bin_packing_bound
from airflow_dististage.steps import LoadDataFromDicts, StepInput, StepResources, step
from tests.conftest import REPO_ROOT

Case = tuple[nx.DiGraph, set[str], dict[str, int], int]


def fewest_stages(graph: nx.DiGraph, global_steps: set[str], needs: dict[str, int], gpus: int) -> int:
    """The fewest stages of any valid plan: breadth first over every stage any set of steps can form."""
    names = list(graph)
    index = {name: i for i, name in enumerate(names)}
    predecessors = [sum(1 << index[p] for p in graph.predecessors(name)) for name in names]
    full = (1 << len(names)) - 1
    placed_sets, stages = {0}, 0
    while full not in placed_sets:
        following = set()
        for placed in placed_sets:
            rest = [i for i in range(len(names)) if not placed >> i & 1]
            for size in range(1, len(rest) + 1):
                for members in itertools.combinations(rest, size):
                    stage = sum(1 << i for i in members)
                    if size > 1 and any(names[i] in global_steps for i in members):
                        continue
                    if sum(needs[names[i]] for i in members) > gpus:
                        continue
                    if any(predecessors[i] & ~(placed | stage) for i in members):
                        continue
                    if size == 1 and names[members[0]] in global_steps and predecessors[members[0]] & stage:
                        continue
                    following.add(placed | stage)
        placed_sets, stages = following, stages + 1
    return stages


def assert_valid(case: Case, stages: tuple[tuple[str, ...], ...]) -> None:
    graph, global_steps, needs, gpus = case
    stage_of = {name: index for index, stage in enumerate(stages) for name in stage}
    assert sorted(stage_of) == sorted(graph) and sum(map(len, stages)) == len(graph)
    for source, target in graph.edges:
        assert stage_of[source] <= stage_of[target], (source, target)
    for name in global_steps:
        assert stages[stage_of[name]] == (name,)
    for stage in stages:
        assert sum(needs[name] for name in stage) <= gpus


@st.composite
def small_pipelines(draw: st.DrawFn, max_steps: int = 6) -> Case:
    """A random DAG of up to ``max_steps`` steps with GPU needs, global steps and a GPU count."""
    size = draw(st.integers(min_value=1, max_value=max_steps))
    names = [f"s{i}" for i in range(size)]
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    for target in range(1, size):
        sources = draw(st.sets(st.integers(min_value=0, max_value=target - 1), max_size=2))
        graph.add_edges_from((names[s], names[target]) for s in sorted(sources))
    global_steps = {name for name in names[1:] if draw(st.integers(0, 3)) == 0}
    gpus = draw(st.integers(min_value=1, max_value=4))
    needs = {name: draw(st.integers(min_value=0, max_value=gpus)) for name in names}
    return graph, global_steps, needs, gpus


def _plan(graph, global_steps, needs, gpus, **kwargs):
    return plan_auto_stages(graph, global_steps, needs, gpus, **kwargs).stages


@settings(max_examples=200, deadline=None)
@given(small_pipelines(max_steps=7))
def test_auto_plans_are_valid_fewest_and_the_same_every_time(case: Case) -> None:
    stages = _plan(*case)
    assert_valid(case, stages)
    assert len(stages) == fewest_stages(*case)
    assert _plan(*case) == stages
    graph, global_steps, needs, _ = case
    plain = plan_load_stages(graph, global_steps, None).stages
    if len(plain) == len(stages) and all(sum(needs[n] for n in stage) <= case[3] for stage in plain):
        assert stages == plain, "the plan without load groups when it fits and is fewest"


@settings(max_examples=100, deadline=None)
@given(small_pipelines(max_steps=9))
def test_the_greedy_fallback_is_valid_and_no_better_than_the_search(case: Case) -> None:
    greedy = _plan(*case, exact_limit=0)
    assert_valid(case, greedy)
    assert len(greedy) >= len(_plan(*case))


def _execution_plan(case: Case, stages: tuple[tuple[str, ...], ...]) -> ExecutionPlan:
    """The execution plan of ``stages`` (every step one replica holding its need)."""
    graph, global_steps, needs, gpus = case
    stage_of = {name: index for index, stage in enumerate(stages) for name in stage}
    steps = {
        name: StepPlan(
            name=name,
            kind="global" if name in global_steps else "normal",
            stage=stage_of[name],
            predecessors=tuple(graph.predecessors(name)),
            successors=tuple(graph.successors(name)),
            replicas=1,
            gpus_per_replica=needs[name],
        )
        for name in graph
    }
    stage_plans = tuple(
        StagePlan(
            index=index,
            steps=stage,
            last_steps=(),
            is_global=len(stage) == 1 and stage[0] in global_steps,
            gpus=sum(needs[name] for name in stage),
        )
        for index, stage in enumerate(stages)
    )
    return ExecutionPlan(pipeline_name="p", stages=stage_plans, steps=steps, gpus=gpus)


@settings(max_examples=100, deadline=None)
@given(small_pipelines(max_steps=8), st.booleans())
def test_every_cut_of_an_auto_plan_has_a_reason_that_holds(case: Case, greedy: bool) -> None:
    """Each stage is a global step, needs a global step's output, or cannot join the last stage
    without a global step (GPUs) -- searched or greedy."""
    graph, global_steps, needs, gpus = case
    stages = _plan(*case, exact_limit=0 if greedy else EXACT_SEARCH_LIMIT)
    reasons = explain_cuts(_execution_plan(case, stages))
    assert reasons[0] is None and len(reasons) == len(stages)
    stage_of = {name: index for index, stage in enumerate(stages) for name in stage}
    for index in range(1, len(stages)):
        stage = stages[index]
        assert reasons[index].startswith(f"stage {index} starts here because ")
        assert "load groups" not in reasons[index]
        if len(stage) == 1 and stage[0] in global_steps:
            continue
        ordinary = [i for i in range(index) if not (len(stages[i]) == 1 and stages[i][0] in global_steps)]
        latest = ordinary[-1] if ordinary else -1
        after_global = any(stage_of[g] > latest for name in stage for g in nx.ancestors(graph, name) & global_steps)
        too_big = latest >= 0 and sum(needs[n] for n in stages[latest]) + sum(needs[n] for n in stage) > gpus
        assert after_global or too_big or latest < 0, (stages, index)


@step(inputs=["x"], outputs=["x"])
def _Pass(*inputs: StepInput):
    yield inputs[0]


@step(inputs=["x"], outputs=["x"], step_type="global")
def _GlobalPass(*inputs: StepInput):
    yield inputs[0]


def test_bin_packing_bound_counts_big_items_alone() -> None:
    assert bin_packing_bound([], 4) == 0
    assert bin_packing_bound([3, 3, 3], 4) == 3  # no two share a stage, although 9 GPUs fit in 3 x 4
    assert bin_packing_bound([2, 2, 2, 2], 4) == 2
    assert bin_packing_bound([0, 0], 0) == 0


def test_twenty_gpu_steps_get_the_fewest_stages_where_greedy_needs_more() -> None:
    """20 GPU steps whose needs fill 7 stages of 10 GPUs exactly: the greedy plan needs 8, the search 7."""
    needs = [2, 6, 1, 5, 3, 2, 2, 5, 3, 5, 2, 2, 3, 2, 5, 6, 5, 2, 7, 2]
    assert sum(needs) == 7 * 10 and len(needs) == EXACT_SEARCH_LIMIT
    graph = nx.DiGraph()
    for i in range(len(needs)):
        graph.add_edge("load", f"gen_{i}")
        graph.add_edge(f"gen_{i}", f"format_{i}")
    case = (graph, set(), {name: 0 for name in graph} | {f"gen_{i}": need for i, need in enumerate(needs)}, 10)
    stages = _plan(*case)
    assert_valid(case, stages)
    assert len(stages) == 7
    assert len(_plan(*case, exact_limit=EXACT_SEARCH_LIMIT - 1)) == 8


def test_a_step_needing_more_gpus_than_a_stage_has_names_it_and_both_counts() -> None:
    with Pipeline(name="too-big") as pipeline:
        LoadDataFromDicts(data=[{"x": 1}]) >> _Pass(name="judge", resources=StepResources(replicas=2, gpus=2))
    for gpus in (1, 3):
        with pytest.raises(LoadGroupsError, match=rf"Step 'judge' needs 4 GPU\(s\).*at most {gpus} GPU\(s\)"):
            pipeline.get_load_stages(load_groups="auto", gpus=gpus)
    assert pipeline.get_load_stages(load_groups="auto", gpus=4)[0] == [["load_data_from_dicts_0", "judge"]]


@pytest.mark.parametrize(
    ("load_groups", "gpus", "message"),
    [
        ("auto", None, r"load_groups='auto' needs gpus=N"),
        ("auto", -1, r"gpus= as an integer >= 0, got -1"),
        ("auto", True, r"gpus= as an integer >= 0, got True"),
        (None, 2, r"gpus=2 is only used with load_groups='auto'"),
        ("automatic", None, r"list of lists of steps, 'sequential_step_execution' or 'auto'"),
    ],
)
def test_bad_auto_arguments_say_what_to_give(load_groups: object, gpus: object, message: str) -> None:
    with Pipeline(name="args") as pipeline:
        LoadDataFromDicts(data=[{"x": 1}]) >> _Pass()
    with pytest.raises(LoadGroupsError, match=message):
        pipeline.get_load_stages(load_groups=load_groups, gpus=gpus)


def _generations(gpus_each: list[int]) -> Pipeline:
    """A loader feeding one GPU step per entry, then a global dedup and one more step."""
    with Pipeline(name="generations") as pipeline:
        load = LoadDataFromDicts(data=[{"x": 1}])
        steps = [_Pass(name=f"text_generation_{i}", resources=StepResources(gpus=g)) for i, g in enumerate(gpus_each)]
        dedup = _GlobalPass(name="dedup")
        load >> steps >> dedup >> _Pass(name="format")
    return pipeline


def test_with_enough_gpus_the_plan_is_the_one_without_load_groups() -> None:
    pipeline = _generations([1, 2, 1])
    assert pipeline.get_load_stages(load_groups="auto", gpus=4) == pipeline.get_load_stages()
    assert pipeline.get_load_stages(load_groups="auto", gpus=64) == pipeline.get_load_stages()


def test_cuts_are_explained_in_words() -> None:
    pipeline = _generations([1, 1])
    plan = pipeline.plan("auto", gpus=1)
    assert [list(stage.steps) for stage in plan.stages] == [
        ["load_data_from_dicts_0", "text_generation_0"], ["text_generation_1"], ["dedup"], ["format"]
    ]
    assert explain_cuts(plan) == (
        None,
        "stage 1 starts here because text_generation_1 needs 1 GPU(s) and stage 0 uses 1 of 1",
        "stage 2 starts here because dedup is a global step: it runs alone, once every row before it is there",
        "stage 3 starts here because format needs the output of global step dedup (stage 2)",
    )


def test_the_plan_is_the_same_in_another_process_with_another_hash_seed() -> None:
    script = (
        "import json; from tests.planning.test_auto_stages import _generations;"
        "print(json.dumps(_generations([2, 1, 2, 1, 1, 2]).get_load_stages('auto', gpus=3)))"
    )
    environment = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=environment, capture_output=True, text=True,
        timeout=120, check=True,
    )
    stages = _generations([2, 1, 2, 1, 1, 2]).get_load_stages("auto", gpus=3)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [list(map(list, part)) for part in stages]
