"""Property: random pipelines with random batch sizes give the same rows as a plain in-memory
reference execution of the same steps."""

from __future__ import annotations

import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import StepResources
from tests.runtime.steps_for_tests import AddOne, BatchShape, KeepEven, Merge, Numbers, Reverse

ROW_WISE = {"add": AddOne, "even": KeepEven, "shape": BatchShape}


def _reference(pipeline: Pipeline) -> dict[str, list[dict]]:
    """Runs the steps in topological order on whole lists, batching exactly as distilabel does."""
    import networkx as nx

    outputs: dict[str, list[dict]] = {}
    for name in nx.topological_sort(pipeline.dag):
        step = pipeline.steps[name]
        inputs = [outputs[p] for p in pipeline.dag.predecessors(name)]
        if step.is_generator:
            rows = [row for batch, _ in step.process(0) for row in batch]
        elif step.is_global:
            rows = [row for batch in step.process(*inputs) for row in batch]
        else:
            size, rows, start = step.input_batch_size, [], 0
            while any(start < len(rows_in) for rows_in in inputs):
                batch = [[dict(row) for row in rows_in[start : start + size]] for rows_in in inputs]
                rows += [row for out in step.process(*batch) for row in out]
                start += size
        outputs[name] = rows
    return outputs


@st.composite
def pipelines(draw) -> Pipeline:
    pipeline = Pipeline(name="random")
    with pipeline:
        names = [Numbers(name="gen", count=draw(st.integers(0, 70)), batch_size=draw(st.integers(1, 25))).name]
        for index in range(draw(st.integers(1, 4))):
            sources = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
            batch_size = draw(st.integers(1, 30))
            if len(sources) == 2:
                step = Merge(name=f"s{index}", input_batch_size=batch_size)
            elif draw(st.booleans()) and draw(st.booleans()):
                step = Reverse(name=f"s{index}")
            else:
                kind = ROW_WISE[draw(st.sampled_from(sorted(ROW_WISE)))]
                replicas = draw(st.sampled_from([1, 1, 2]))
                step = kind(name=f"s{index}", input_batch_size=batch_size, resources=StepResources(replicas=replicas))
            for source in sources:
                pipeline.steps[source].connect(step)
            names.append(step.name)
    return pipeline


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines(), st.sampled_from([None, "sequential_step_execution"]))
def test_random_pipelines_match_the_reference(pipeline: Pipeline, load_groups) -> None:
    expected = _reference(pipeline)
    with tempfile.TemporaryDirectory() as folder:
        distiset = pipeline.run(load_groups=load_groups, storage_parameters={"path": folder}, show_progress=False)
    leaves = [name for name in pipeline.steps if not list(pipeline.dag.successors(name))]
    for leaf in leaves:
        key = "default" if len(leaves) == 1 else leaf
        assert distiset[key]["train"].to_list() == _as_table_rows(expected[leaf]), leaf


def _as_table_rows(rows: list[dict]) -> list[dict]:
    """Rows as a table holds them: every row has every column (missing ones are None)."""
    columns = list(dict.fromkeys(column for row in rows for column in row))
    return [{column: row.get(column) for column in columns} for row in rows]
