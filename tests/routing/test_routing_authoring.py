"""Routing batch functions at pipeline build: decorator forms, connection forms, errors, plan roles, dump."""

from __future__ import annotations

import random

import pytest

from airflow_dististage.pipeline import Pipeline, PipelineValidationError, routing_batch_function, sample_n_steps
from airflow_dististage.pipeline.routing_batch_function import RoutingBatchFunction, RoutingError
from airflow_dististage.runtime.executor import lineage_fingerprints
from airflow_dististage.steps import GroupColumns, LoadDataFromDicts
from tests.routing.steps import Collect, Generate

DATA = [{"instruction": f"i{i}"} for i in range(4)]


@routing_batch_function
def first_only(steps: list[str]) -> list[str]:
    return steps[:1]


@routing_batch_function(description="All but the first.")
def all_but_first(steps: list[str]) -> list[str]:
    return steps[1:]


def top_k(k: int) -> RoutingBatchFunction:
    @routing_batch_function("The first k steps.")
    def first_k(steps: list[str]) -> list[str]:
        return steps[:k]

    return first_k


def _branches(count: int = 3) -> list[Generate]:
    return [Generate(name=f"tg_{'abc'[i]}") for i in range(count)]


def test_the_decorator_works_bare_with_parentheses_and_with_a_positional_description() -> None:
    assert isinstance(first_only, RoutingBatchFunction) and first_only.description is None
    assert all_but_first.description == "All but the first."
    made = top_k(2)
    assert made.description == "The first k steps."
    assert made.route(["a", "b", "c"]) == ["a", "b"]
    assert made.label == "first_k (top_k(k=2))"
    assert first_only.label == "first_only"


def test_every_connection_form_attaches_the_router_and_connects_the_branches() -> None:
    with Pipeline(name="forms") as pipeline:
        load = LoadDataFromDicts(data=DATA)
        router = sample_n_steps(2)
        branches = _branches()
        assert load >> router is router
        assert router >> branches == branches
    other_router = sample_n_steps(1)
    with Pipeline(name="forms-connect") as connected:
        other = LoadDataFromDicts(data=DATA)
        other.connect(*_branches(), routing_batch_function=other_router)
    for built, producer, used in ((pipeline, load, router), (connected, other, other_router)):
        assert built.routing_batch_functions == {producer.name: used}
        assert used.step is producer
        assert list(built.dag.successors(producer.name)) == ["tg_a", "tg_b", "tg_c"]
        plan = built.plan()
        assert {name: plan.steps[name].branch_of for name in ("tg_a", "tg_b", "tg_c")} == dict.fromkeys(
            ("tg_a", "tg_b", "tg_c"), producer.name
        )


def test_the_plan_names_branches_and_joins() -> None:
    with Pipeline(name="roles") as pipeline:
        load = LoadDataFromDicts(data=DATA)
        branches = _branches()
        group = GroupColumns(name="group", columns=["generation"])
        load >> sample_n_steps(2) >> branches >> group
        after = Generate(name="after", input_mappings={"instruction": "generation"})
        branches[0] >> after
        collect = Collect(name="collect")
        group >> collect
    plan = pipeline.plan()
    assert (plan.steps["group"].joins, plan.steps["after"].joins) == (load.name, load.name)
    assert (plan.steps["collect"].joins, plan.steps["collect"].branch_of) == (None, None)
    assert plan.steps[load.name].branch_of is None


def test_sample_n_steps_records_its_factory_call_and_dumps_like_distilabel() -> None:
    with Pipeline(name="dump") as pipeline:
        load = LoadDataFromDicts(data=DATA)
        load >> sample_n_steps(2) >> _branches()
    (router,) = pipeline.routing_batch_functions.values()
    assert router.dump() == {
        "step": load.name,
        "description": "Sample 2 steps from the list of downstream steps.",
        "type_info": {
            "module": "airflow_dististage.pipeline.routing_batch_function",
            "name": "sample_n_steps",
            "kwargs": {"n": 2},
        },
    }
    rebuilt = RoutingBatchFunction.from_dict(router.dump())
    assert rebuilt.label == "sample_n (sample_n_steps(n=2))" and rebuilt.description == router.description
    assert rebuilt.step is None
    with Pipeline(name="dump-plain"):
        plain = LoadDataFromDicts(data=DATA)
        plain >> all_but_first >> _branches()
    assert all_but_first.dump() == {"step": plain.name, "description": "All but the first."}
    with pytest.raises(ValueError, match="not created by a factory"):
        RoutingBatchFunction.from_dict(all_but_first.dump())


def _pipeline_with_inner_router(name: str) -> Pipeline:
    with Pipeline(name=name) as pipeline:

        @routing_batch_function
        def inner(steps: list[str]) -> list[str]:
            return steps[:1]

        LoadDataFromDicts(name="load", data=DATA) >> inner >> _branches()
    return pipeline


def test_a_router_defined_inside_a_builder_names_it_but_cannot_be_built_from_it() -> None:
    (router,) = _pipeline_with_inner_router("inner").routing_batch_functions.values()
    assert router.dump()["type_info"]["name"] == "_pipeline_with_inner_router"  # as distilabel records it
    with pytest.raises(ValueError, match="returned a Pipeline, not a routing batch function"):
        RoutingBatchFunction.from_dict(router.dump())


def test_the_router_is_part_of_the_producers_lineage() -> None:
    def lineage(n: int, names: str = "abc") -> dict[str, str]:
        with Pipeline(name="lineage") as pipeline:
            load = LoadDataFromDicts(name="load", data=DATA)
            load >> sample_n_steps(n) >> [Generate(name=f"tg_{c}") for c in names]
        return lineage_fingerprints(pipeline, pipeline.plan())

    assert lineage(2) == lineage(2)
    assert lineage(1)["load"] != lineage(2)["load"]
    assert lineage(2)["load"] != lineage(2, "abd")["load"]
    with Pipeline(name="lineage") as unrouted:
        load = LoadDataFromDicts(name="load", data=DATA)
        load >> [Generate(name=f"tg_{c}") for c in "abc"]
    assert lineage_fingerprints(unrouted, unrouted.plan())["load"] != lineage(2)["load"]


def test_the_pipeline_keeps_the_random_state_of_each_routers_connection() -> None:
    random.seed(5)
    with Pipeline(name="state") as pipeline:
        load = LoadDataFromDicts(data=DATA)
        load >> first_only >> _branches()
    random.random()
    with Pipeline(name="state-again") as again:
        other = LoadDataFromDicts(data=DATA)
        other >> first_only >> _branches()  # a module-level router moves to the pipeline built again
    assert pipeline.routing_random_state(load.name) == random.Random(5).getstate()
    assert again.routing_random_state(other.name) != pipeline.routing_random_state(load.name)
    assert first_only.step is other


def _misuse_cases():
    def router_to_one_step():
        load = LoadDataFromDicts(data=DATA)
        load >> sample_n_steps(1) >> Generate()

    def router_without_step():
        sample_n_steps(1) >> _branches()

    def list_into_router():
        [LoadDataFromDicts(name="one", data=DATA), LoadDataFromDicts(name="two", data=DATA)] >> sample_n_steps(1)

    def router_reused():
        router = sample_n_steps(1)
        LoadDataFromDicts(name="one", data=DATA) >> router
        LoadDataFromDicts(name="two", data=DATA) >> router

    def two_routers():
        load = LoadDataFromDicts(name="load", data=DATA)
        load >> sample_n_steps(1)
        load >> first_only

    return [
        (router_to_one_step, "routes to a list of steps, got Generate"),
        (router_without_step, "has no upstream step"),
        (list_into_router, "routes the batches of one step"),
        (router_reused, "already routes the batches of step 'one'; it cannot also route those of step 'two'"),
        (two_routers, "Step 'load' already routes its batches with sample_n \\(sample_n_steps\\(n=1\\)\\)"),
    ]


@pytest.mark.parametrize(("build", "message"), _misuse_cases(), ids=lambda case: getattr(case, "__name__", ""))
def test_misused_connections_fail_at_once_naming_the_router(build, message: str) -> None:
    with Pipeline(name="misuse"), pytest.raises(PipelineValidationError, match=message):
        build()


def _invalid_pipelines():
    def too_few_branches():
        LoadDataFromDicts(name="load", data=DATA) >> sample_n_steps(3) >> _branches(2)

    def no_branch():
        LoadDataFromDicts(name="load", data=DATA) >> first_only

    def branch_with_two_predecessors():
        load = LoadDataFromDicts(name="load", data=DATA)
        branches = _branches(2)
        load >> first_only >> branches
        LoadDataFromDicts(name="other", data=DATA) >> branches[1]

    def join_with_a_stranger():
        load = LoadDataFromDicts(name="load", data=DATA)
        branches = _branches(2)
        load >> first_only >> branches
        stranger = Generate(name="stranger")
        LoadDataFromDicts(name="other", data=DATA) >> stranger
        [branches[0], stranger] >> GroupColumns(name="group", columns=["generation"])

    def join_of_a_global_branch():
        load = LoadDataFromDicts(name="load", data=DATA)
        load >> first_only >> [Collect(name="collect"), Generate(name="tg_a")] >> GroupColumns(
            name="group", columns=["instruction"]
        )

    return [
        (too_few_branches, "sample_n \\(sample_n_steps\\(n=3\\)\\) of step 'load' sends each batch to 3 steps,"
         " but 'load' has only 2"),
        (no_branch, "Step 'load' routes its batches with first_only but has no step after it"),
        (branch_with_two_predecessors, "Step 'tg_b' gets the batches step 'load' routes with first_only, so it cannot"
         " have other predecessors; it also has \\['other'\\]"),
        (join_with_a_stranger, "Step 'group' joins \\['tg_a'\\], which get the batches step 'load' routes with"
         " first_only, so every predecessor of it must be such a branch; \\['stranger'\\] are not"),
        (join_of_a_global_branch, "Step 'group' joins the branches \\['collect', 'tg_a'\\] of step 'load'"
         " \\(first_only\\), but \\['collect'\\] are global steps"),
    ]


@pytest.mark.parametrize(("build", "message"), _invalid_pipelines(), ids=lambda case: getattr(case, "__name__", ""))
def test_invalid_routing_fails_at_pipeline_build_naming_step_and_router(build, message: str) -> None:
    with Pipeline(name="invalid") as pipeline:
        build()
    with pytest.raises(PipelineValidationError, match=message):
        pipeline.validate()


def test_sample_n_steps_refuses_a_count_below_one() -> None:
    for n in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            sample_n_steps(n)


def test_a_router_returning_unknown_or_repeated_names_is_refused_naming_both() -> None:
    with Pipeline(name="bad-returns"):
        load = LoadDataFromDicts(name="load", data=DATA)

        @routing_batch_function
        def typo(steps: list[str]) -> list[str]:
            return ["tg_a", "tg_z"]

        load >> typo >> _branches(2)
    with pytest.raises(RoutingError, match="typo of step 'load' returned \\['tg_z'\\], which are not successors"):
        typo.route(["tg_a", "tg_b"])
    for returned, message in ((["tg_a", "tg_a"], "returned a step twice"), ("tg_a", "must return a list")):
        bad = RoutingBatchFunction(lambda steps, returned=returned: returned)
        with pytest.raises(RoutingError, match=message):
            bad.route(["tg_a", "tg_b"])
