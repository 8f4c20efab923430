"""The load-stage planner on its own: error messages and a dependency-consistency property."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_dististage.planning import SEQUENTIAL, LoadGroupsError, plan_load_stages


def linear(*names: str) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    graph.add_edges_from(zip(names, names[1:]))
    return graph


LINE = linear("gen", "a", "b", "c")


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([["zzz"]], "names step 'zzz', which is not in the pipeline"),
        ([["a", "zzz"]], "names step 'zzz'"),
        ([["a"], ["a", "b"]], "Step 'a' is in load group 1 and also in load group 0"),
        ([["a", "a"]], "Step 'a' is in load group 0 and twice in that group"),
        ([[]], "Load group 0 is empty"),
        ([["a", "c"]], "run step 'c' \\(stage 1\\) before its predecessor 'b' \\(stage 2\\)"),
    ],
)
def test_invalid_groups_name_the_culprit(groups: list[list[str]], message: str) -> None:
    with pytest.raises(LoadGroupsError, match=message):
        plan_load_stages(LINE, set(), groups)


def test_global_step_sharing_a_group_is_rejected() -> None:
    graph = linear("gen", "a", "g", "c")
    with pytest.raises(LoadGroupsError, match="Global step 'g' shares load group 0 with \\['a'\\]"):
        plan_load_stages(graph, {"g"}, [["a", "g"]])


def test_global_step_alone_in_a_user_group_is_fine() -> None:
    graph = linear("gen", "a", "g", "c")
    assert plan_load_stages(graph, {"g"}, [["g"]]).stages == (("gen", "a"), ("g",), ("c",))


def test_load_groups_error_is_a_value_error() -> None:
    assert issubclass(LoadGroupsError, ValueError)


def test_a_string_other_than_sequential_is_rejected() -> None:
    with pytest.raises(LoadGroupsError, match="sequential_step_execution"):
        plan_load_stages(LINE, set(), "sequential")


def _draw_graph(draw: st.DrawFn) -> tuple[nx.DiGraph, list[str], set[str]]:
    """A random DAG (edges only from earlier to later nodes), its node names and global steps."""
    size = draw(st.integers(min_value=1, max_value=9))
    names = [f"s{i}" for i in range(size)]
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    for target in range(1, size):
        sources = draw(st.sets(st.integers(min_value=0, max_value=target - 1), min_size=1, max_size=3))
        graph.add_edges_from((names[s], names[target]) for s in sorted(sources))
    global_steps = {n for n in names[1:] if draw(st.booleans()) and draw(st.booleans())}
    return graph, names, global_steps


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


def test_groups_may_hold_steps_or_step_names() -> None:
    assert plan_load_stages(LINE, set(), [[_Named("a"), "b"]]).stages == (("gen",), ("a", "b"), ("c",))


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"a": 1}, "load_groups must be a list of lists"),
        (["a"], "Load group 0 must be a list of steps or step names, got 'a'"),
        ([[1]], "Load group 0 holds 1, which is neither a step nor a step name"),
    ],
)
def test_malformed_groups_are_rejected(groups: object, message: str) -> None:
    with pytest.raises(LoadGroupsError, match=message):
        plan_load_stages(LINE, set(), groups)


@st.composite
def graphs_and_groups(draw: st.DrawFn) -> tuple[nx.DiGraph, set[str], object]:
    """A random DAG, global steps and load groups."""
    graph, names, global_steps = _draw_graph(draw)
    size = len(names)
    mode = draw(st.sampled_from(["none", "sequential", "groups"]))
    if mode == "none":
        return graph, global_steps, None
    if mode == "sequential":
        return graph, global_steps, SEQUENTIAL
    members = draw(st.lists(st.sampled_from(names), unique=True, max_size=size))
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=max(1, len(members))), max_size=3)))
    groups, start = [], 0
    for cut in [*cuts, len(members)]:
        if members[start:cut]:
            groups.append(members[start:cut])
        start = cut
    return graph, global_steps, groups


@settings(max_examples=300, deadline=None)
@given(graphs_and_groups())
def test_every_returned_plan_is_dependency_consistent(case: tuple[nx.DiGraph, set[str], object]) -> None:
    graph, global_steps, groups = case
    try:
        plan = plan_load_stages(graph, global_steps, groups)
    except LoadGroupsError:
        return
    stage_of = plan.stage_of()
    assert sorted(stage_of) == sorted(graph), "every step is in exactly one stage"
    assert sum(len(s) for s in plan.stages) == len(graph)
    for source, target in graph.edges:
        assert stage_of[source] <= stage_of[target]
        if source in global_steps or target in global_steps:
            assert stage_of[source] < stage_of[target]
    for name in global_steps:
        assert plan.stages[stage_of[name]] == (name,)
    if isinstance(groups, list):
        for group in groups:
            assert plan.stages[stage_of[group[0]]] == tuple(group), "a group is loaded as the user wrote it"


@settings(max_examples=100, deadline=None)
@given(graphs_and_groups())
def test_without_groups_a_plan_always_exists(case: tuple[nx.DiGraph, set[str], object]) -> None:
    graph, global_steps, _ = case
    plan_load_stages(graph, global_steps, None)
    plan_load_stages(graph, global_steps, SEQUENTIAL)


@st.composite
def graphs_and_runnable_groups(draw: st.DrawFn) -> tuple[nx.DiGraph, set[str], list[list[str]]]:
    """Groups that are contiguous runs of the pipeline's topological order (globals alone); some steps ungrouped."""
    graph, _, global_steps = _draw_graph(draw)
    segments: list[list[str]] = []
    for name in nx.topological_sort(graph):
        starts_new = not segments or name in global_steps or segments[-1][0] in global_steps or draw(st.booleans())
        if starts_new:
            segments.append([name])
        else:
            segments[-1].append(name)
    return graph, global_steps, [segment for segment in segments if draw(st.booleans())]


@settings(max_examples=300, deadline=None)
@given(graphs_and_runnable_groups())
def test_groups_following_the_topological_order_are_never_rejected(
    case: tuple[nx.DiGraph, set[str], list[list[str]]],
) -> None:
    graph, global_steps, groups = case
    plan = plan_load_stages(graph, global_steps, groups)
    stage_of = plan.stage_of()
    for group in groups:
        assert plan.stages[stage_of[group[0]]] == tuple(group)
