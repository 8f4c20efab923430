"""Routing in ``pipeline.run()``: the rows each branch and join gets, batch cuts, resume, runtime errors."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from airflow_dististage.pipeline import Pipeline, routing_batch_function, sample_n_steps
from airflow_dististage.runtime import BatchStore
from airflow_dististage.runtime.executor import lineage_fingerprints
from airflow_dististage.runtime.local import LOCAL_RUN_ID, StepFailedError
from airflow_dististage.steps import GroupColumns, LoadDataFromDicts, StepResources
from tests.routing.steps import Collect, FlakyInstructions, Generate, Tag

BRANCHES = ("tg_a", "tg_b", "tg_c")


def _instructions(count: int) -> list[dict[str, str]]:
    return [{"instruction": f"i{n}"} for n in range(count)]


def _rows(distiset, name: str = "default") -> list[dict]:
    return distiset[name]["train"].to_list()


def _sampled_routes(seed: int, batches: int, n: int = 2) -> list[list[str]]:
    """What ``random.seed(seed)`` then one ``random.sample(BRANCHES, n)`` per batch picks."""
    draws = random.Random(seed)
    return [draws.sample(list(BRANCHES), n) for _ in range(batches)]


def _grouped(batches: list[list[int]], routes: list[list[str]]) -> list[dict]:
    """GroupColumns' rows after ``tg_*`` branches: each row next to itself in every branch that got it,
    in the branches' connection order (not the router's)."""
    rows = []
    for numbers, route in zip(batches, routes):
        members = [name for name in BRANCHES if name in route]
        for n in numbers:
            rows.append({
                "instruction": f"i{n}",
                "grouped_generation": [f"{name}:i{n}" for name in members],
                "grouped_model_name": members,
            })
    return rows


def _doc_pipeline(path: Path, *, rows: int, batch_size: int, sizes: tuple[int, ...], join_size: int) -> Pipeline:
    with Pipeline(name="routing-doc", cache_dir=str(path)) as pipeline:
        load = LoadDataFromDicts(data=_instructions(rows), batch_size=batch_size)
        generations = [Generate(name=name, input_batch_size=size) for name, size in zip(BRANCHES, sizes)]
        group = GroupColumns(columns=["generation", "model_name"], input_batch_size=join_size)
        load >> sample_n_steps(2) >> generations >> group
    return pipeline


@pytest.mark.parametrize(
    ("seed", "batch_size", "sizes", "join_size"), [(42, 3, (3, 3, 3), 3), (3, 4, (4, 2, 1), 1)]
)
def test_the_documented_pipeline_gives_distilabels_rows(tmp_path, seed, batch_size, sizes, join_size) -> None:
    """Seeded, distilabel 1.5.3 gives exactly these rows (checked against it for both configurations)."""
    random.seed(seed)
    pipeline = _doc_pipeline(tmp_path, rows=10, batch_size=batch_size, sizes=sizes, join_size=join_size)
    rows = _rows(pipeline.run(use_cache=False))

    batches = [list(range(start, min(start + batch_size, 10))) for start in range(0, 10, batch_size)]
    assert rows == _grouped(batches, _sampled_routes(seed, len(batches)))
    if seed == 42:  # distilabel's output, as it printed it
        pairs = [["tg_a", "tg_c"]] * 3 + [["tg_a", "tg_b"]] * 3 + [["tg_a", "tg_c"]] * 4
        assert [row["grouped_model_name"] for row in rows] == pairs


def _leaf_branches(path: Path, seed: int) -> Pipeline:
    random.seed(seed)
    with Pipeline(name="routing-leaves", cache_dir=str(path)) as pipeline:
        load = LoadDataFromDicts(data=_instructions(20), batch_size=4)
        load >> sample_n_steps(2) >> [Generate(name=name, input_batch_size=4) for name in BRANCHES]
    return pipeline


def test_sample_n_steps_sends_every_batch_to_n_branches_the_same_on_every_seeded_run(tmp_path) -> None:
    first = {name: _rows(_leaf_branches(tmp_path, 7).run(use_cache=False), name) for name in BRANCHES}
    second = {name: _rows(_leaf_branches(tmp_path, 7).run(use_cache=False), name) for name in BRANCHES}

    assert first == second
    routes = _sampled_routes(7, 5)
    for name in BRANCHES:
        expected = [n for batch, route in enumerate(routes) if name in route for n in range(4 * batch, 4 * batch + 4)]
        assert [row["instruction"] for row in first[name]] == [f"i{n}" for n in expected]
        assert {row["model_name"] for row in first[name]} <= {name}
    got = {name: {row["instruction"] for row in rows} for name, rows in first.items()}
    receivers = [[name for name in BRANCHES if f"i{n}" in got[name]] for n in range(20)]
    assert all(len(names) == 2 for names in receivers)
    assert len({tuple(names) for names in receivers}) > 1


def _cycle(*routes: list[str]):
    """A router giving ``routes`` in turn (replayed from the start by every attempt and replica)."""
    turns = itertools.cycle(routes)

    @routing_batch_function
    def in_turn(steps: list[str]) -> list[str]:
        return next(turns)

    return in_turn


def _row(n: int, *tags: str) -> dict:
    return {"instruction": f"i{n}", "tags": list(tags)}


def test_branches_cut_each_routed_batch_on_its_own_and_the_join_aligns_rows_per_routed_batch(tmp_path) -> None:
    """mid (2 replicas) cuts 11 rows into batches of 4 and routes them; branch sizes divide them or not."""
    with Pipeline(name="routing-cuts", cache_dir=str(tmp_path)) as pipeline:
        load = LoadDataFromDicts(data=_instructions(11), batch_size=3)
        mid = Tag(name="mid", input_batch_size=4, resources=StepResources(replicas=2))
        branches = [Tag(name=name, input_batch_size=size) for name, size in (("a", 3), ("b", 8), ("c", 2))]
        join = Tag(name="join", input_batch_size=2)
        load >> mid >> _cycle(["a", "b"], ["c", "b"], ["a", "c"]) >> branches >> join
    rows = _rows(pipeline.run(use_cache=False))

    def via(n: int, mid_rows: int, branch: str, branch_rows: int, member: int, join_rows: int) -> dict:
        return _row(n, f"mid/0/{mid_rows}", f"{branch}/0/{branch_rows}", f"join/{member}/{join_rows}")

    assert rows == [
        # routed batch 0 (i0-i3) went to a and b: a cut it 3 + 1, b took it whole
        via(0, 4, "a", 3, 0, 2), via(1, 4, "a", 3, 0, 2), via(0, 4, "b", 4, 1, 2), via(1, 4, "b", 4, 1, 2),
        via(2, 4, "a", 3, 0, 2), via(3, 4, "a", 1, 0, 2), via(2, 4, "b", 4, 1, 2), via(3, 4, "b", 4, 1, 2),
        # routed batch 1 (i4-i7) went to c and b, joined in connection order: b before c
        via(4, 4, "b", 4, 0, 2), via(5, 4, "b", 4, 0, 2), via(4, 4, "c", 2, 1, 2), via(5, 4, "c", 2, 1, 2),
        via(6, 4, "b", 4, 0, 2), via(7, 4, "b", 4, 0, 2), via(6, 4, "c", 2, 1, 2), via(7, 4, "c", 2, 1, 2),
        # routed batch 2 (i8-i10) went to a and c
        via(8, 3, "a", 3, 0, 2), via(9, 3, "a", 3, 0, 2), via(8, 3, "c", 2, 1, 2), via(9, 3, "c", 2, 1, 2),
        via(10, 3, "a", 3, 0, 1), via(10, 3, "c", 1, 1, 1),
    ]


def test_global_steps_route_their_whole_output_once_and_read_branches_whole(tmp_path) -> None:
    with Pipeline(name="routing-globals", cache_dir=str(tmp_path)) as pipeline:
        load = LoadDataFromDicts(data=_instructions(1500), batch_size=500)
        everything = Collect(name="everything")  # 1500 rows: parts of 1000 and 500, one routed batch
        load >> everything >> _cycle(["big"], ["small"]) >> [Tag(name="big", input_batch_size=400), Tag(name="small")]
        split = LoadDataFromDicts(name="split", data=_instructions(6), batch_size=2)
        branches = [Collect(name="whole"), Tag(name="each", input_batch_size=1)]
        split >> _cycle(["whole"], ["each"], ["each", "whole"]) >> branches >> Collect(name="after")
    distiset = pipeline.run(use_cache=False)

    big = _rows(distiset, "big")
    assert [row["instruction"] for row in big] == [f"i{n}" for n in range(1500)]
    assert [row["tags"][-1] for row in big] == ["big/0/400"] * 1200 + ["big/0/300"] * 300
    assert _rows(distiset, "small") == []
    assert _rows(distiset, "after") == [
        *(_row(n, "whole/0/4", "after/0/4") for n in (0, 1, 4, 5)),
        *(_row(n, "each/0/1", "after/1/4") for n in (2, 3, 4, 5)),
    ]


def test_a_resumed_run_keeps_the_routing_of_the_batches_written_and_continues_the_seeded_draws(tmp_path) -> None:
    def pipeline() -> Pipeline:
        random.seed(11)
        with Pipeline(name="routing-resume", cache_dir=str(tmp_path / "cache")) as built:
            load = FlakyInstructions(name="load", count=10, batch_size=2, fail_at=3, flag=str(tmp_path / "failed"))
            generations = [Generate(name=name, input_batch_size=2) for name in BRANCHES]
            load >> sample_n_steps(2) >> generations >> GroupColumns(columns=["generation", "model_name"])
        return built

    first = pipeline()
    with pytest.raises(StepFailedError, match="a transient failure, on purpose"):
        first.run()
    store = BatchStore(str(tmp_path / "cache"), "routing-resume", LOCAL_RUN_ID)
    load_data = store.step("load", lineage_fingerprints(first, first.plan())["load"])
    written = load_data.read_marker("failed")["generation"]
    assert load_data.part_sequences(written) == [0, 1, 2]

    second = pipeline()
    rows = _rows(second.run())

    assert load_data.read_marker("finished")["generation"] == written  # resumed, not recomputed
    batches = [[n, n + 1] for n in range(0, 10, 2)]
    assert rows == _grouped(batches, _sampled_routes(11, 5))


@routing_batch_function
def misspelt(steps: list[str]) -> list[str]:
    return ["tg_a", "tg_d"]


def test_a_router_returning_an_unknown_step_fails_its_step_naming_router_and_names(tmp_path) -> None:
    with Pipeline(name="routing-unknown", cache_dir=str(tmp_path)) as pipeline:
        LoadDataFromDicts(name="load", data=_instructions(2)) >> misspelt >> [Generate(name=name) for name in BRANCHES]
    with pytest.raises(StepFailedError, match="misspelt of step 'load' returned \\['tg_d'\\], which are not succ"):
        pipeline.run(use_cache=False)
