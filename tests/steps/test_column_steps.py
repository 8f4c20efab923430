"""Column steps: ``process`` on distilabel's documented examples, real ``pipeline.run()`` with several
predecessors, and the errors that name the step and the column."""

from __future__ import annotations

import warnings

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.pipeline.base import PipelineValidationError
from airflow_dististage.runtime.local import StepFailedError
from airflow_dististage.steps import (
    CombineColumns,
    CombineOutputs,
    ExpandColumns,
    GroupColumns,
    KeepColumns,
    LoadDataFromDicts,
    MergeColumns,
)
from airflow_dististage.steps.column_checks import MissingColumnError
from airflow_dististage.steps.columns import combine, expand, group, keep, merge
from airflow_dististage.steps.columns.utils import merge_distilabel_metadata
from tests.runtime.conftest import rows_of, store_path  # noqa: F401 - store_path is a fixture


def test_module_paths_are_distilabels() -> None:
    assert keep.KeepColumns is KeepColumns
    assert group.GroupColumns is GroupColumns and group.CombineColumns is CombineColumns
    assert merge.MergeColumns is MergeColumns
    assert expand.ExpandColumns is ExpandColumns
    assert combine.CombineOutputs is CombineOutputs


# -- KeepColumns -----------------------------------------------------------------------------
def test_keep_columns_keeps_the_listed_columns_in_their_order() -> None:
    step = KeepColumns(columns=["instruction", "generation"])
    rows = [{"instruction": "What's the brightest color?", "generation": "white", "model_name": "my_model"}]
    (result,) = step.process(rows)
    assert result == [{"instruction": "What's the brightest color?", "generation": "white"}]
    assert step.inputs == step.outputs == ["instruction", "generation"]
    (reordered,) = KeepColumns(columns=["generation", "instruction"]).process(rows)
    assert list(reordered[0]) == ["generation", "instruction"]


def test_keep_columns_yields_one_batch_per_predecessor() -> None:
    step = KeepColumns(columns=["a"])
    assert list(step.process([{"a": 1, "b": 2}], [{"a": 3, "c": 4}])) == [[{"a": 1}], [{"a": 3}]]


# -- GroupColumns ----------------------------------------------------------------------------
def test_group_columns_gathers_row_i_of_each_predecessor() -> None:
    step = GroupColumns(name="group_columns", columns=["generation", "model_name"])
    (result,) = step.process(
        [{"generation": "AI generated text"}, {"model_name": "my_model"}],
        [{"generation": "Other generated text", "model_name": "my_model"}],
    )
    # distilabel's docstring example prints the `merged_` prefix its 1.5.3 code no longer uses.
    assert step.outputs == ["grouped_generation", "grouped_model_name"]
    assert result == [
        {"grouped_generation": ["AI generated text", "Other generated text"], "grouped_model_name": ["my_model"]}
    ]


def test_group_columns_output_columns_rename_and_other_columns_take_the_last_value() -> None:
    step = GroupColumns(columns=["generation", "model_name"], output_columns=["generations", "generation_models"])
    (result,) = step.process(
        [{"instruction": "q", "generation": "a", "model_name": "m1", "distilabel_metadata": {"raw_output_a": "A"}}],
        [{"instruction": "q!", "generation": "b", "model_name": "m2", "distilabel_metadata": {"raw_output_b": "B"}}],
    )
    assert step.inputs == ["generation", "model_name"]
    assert step.outputs == ["generations", "generation_models"]
    assert result == [
        {
            "instruction": "q!",
            "generations": ["a", "b"],
            "generation_models": ["m1", "m2"],
            "distilabel_metadata": {"raw_output_a": "A", "raw_output_b": "B"},
        }
    ]


def test_combine_columns_is_the_deprecated_name_of_group_columns() -> None:
    with pytest.warns(DeprecationWarning, match="`CombineColumns` is deprecated.*use `GroupColumns`"):
        step = CombineColumns(columns=["generation"])
    assert isinstance(step, GroupColumns)
    assert step.name == "combine_columns_0"
    assert step.outputs == ["grouped_generation"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GroupColumns(columns=["generation"])


def test_metadata_of_several_rows_merges_key_by_key() -> None:
    assert merge_distilabel_metadata(
        {"distilabel_metadata": {"a": 1, "shared": "x"}},
        {"other": 1},
        {"distilabel_metadata": {"b": 2, "shared": "y"}},
    ) == {"a": 1, "shared": ["x", "y"], "b": 2}
    assert merge_distilabel_metadata(
        {"distilabel_metadata": [{"a": 1}, {"a": 2}]}, {"distilabel_metadata": [{"a": 3}]}
    ) == [{"a": 1}, {"a": 2}, {"a": 3}]


# -- MergeColumns ----------------------------------------------------------------------------
def test_merge_columns_splices_lists_and_appends_single_values() -> None:
    step = MergeColumns(columns=["queries", "multiple_queries"], output_column="queries")
    (result,) = step.process([{"queries": "How are you?", "multiple_queries": ["What's up?", "Everything ok?"]}])
    assert result == [{"queries": ["How are you?", "What's up?", "Everything ok?"]}]
    assert step.outputs == ["queries"]


def test_merge_columns_default_output_and_other_columns_kept() -> None:
    step = MergeColumns(columns=["a", "b"])
    (result,) = step.process([{"id": 7, "a": [1, 2], "b": 3}])
    assert step.outputs == ["merged_column"]
    assert result == [{"id": 7, "merged_column": [1, 2, 3]}]


# -- ExpandColumns ---------------------------------------------------------------------------
def test_expand_columns_gives_one_row_per_item() -> None:
    (result,) = ExpandColumns(columns=["generation"]).process(
        [{"instruction": "instruction 1", "generation": ["generation 1", "generation 2"]}]
    )
    assert result == [
        {"instruction": "instruction 1", "generation": "generation 1"},
        {"instruction": "instruction 1", "generation": "generation 2"},
    ]


@pytest.mark.parametrize("encoded", [True, ["generation"]])
def test_expand_columns_decodes_json_encoded_lists(encoded) -> None:
    step = ExpandColumns(columns=["generation"], encoded=encoded)
    (result,) = step.process([{"instruction": "instruction 1", "generation": '["generation 1", "generation 2"]'}])
    assert result == [
        {"instruction": "instruction 1", "generation": "generation 1"},
        {"instruction": "instruction 1", "generation": "generation 2"},
    ]
    assert step.encoded == ["generation"]


def test_expand_columns_splits_statistics() -> None:
    step = ExpandColumns(columns=["generation"], split_statistics=True)
    (result,) = step.process(
        [
            {
                "instruction": "instruction 1",
                "generation": ["generation 1", "generation 2"],
                "distilabel_metadata": {"statistics_generation": {"input_tokens": [12], "output_tokens": [12]}},
            }
        ]
    )
    metadata = {"statistics_generation": {"input_tokens": [6], "output_tokens": [6]}}
    assert result == [
        {"instruction": "instruction 1", "generation": "generation 1", "distilabel_metadata": metadata},
        {"instruction": "instruction 1", "generation": "generation 2", "distilabel_metadata": metadata},
    ]


def test_expand_columns_statistics_split_rounds_down_and_keeps_other_metadata() -> None:
    metadata = {"statistics_t": {"input_tokens": 10, "output_tokens": [7, None]}, "raw_output_t": "raw"}
    step = ExpandColumns(columns=["g"], split_statistics=True)
    (result,) = step.process([{"g": [1, 2, 3], "distilabel_metadata": metadata}])
    assert [row["distilabel_metadata"] for row in result] == [
        {"statistics_t": {"input_tokens": [3], "output_tokens": [2, None]}, "raw_output_t": "raw"}
    ] * 3
    statistics = {"statistics_t": {"input_tokens": [10], "output_tokens": [10]}}
    (unsplit,) = ExpandColumns(columns=["g"]).process([{"g": [1, 2], "distilabel_metadata": statistics}])
    assert [row["distilabel_metadata"] for row in unsplit] == [statistics] * 2


def test_expand_columns_several_columns_and_a_new_column_name() -> None:
    step = ExpandColumns(columns={"generations": "generation", "generation_models": ""})
    assert step.inputs == ["generations", "generation_models"]
    assert step.outputs == ["generation", "generation_models"]
    rows = [{"generations": ["a", "b"], "generation_models": ["m1", "m2"]}]
    rows.append({"generations": [], "generation_models": []})
    (result,) = step.process(rows)
    assert result == [
        {"generations": ["a", "b"], "generation": "a", "generation_models": "m1"},
        {"generations": ["a", "b"], "generation": "b", "generation_models": "m2"},
    ]


# -- CombineOutputs --------------------------------------------------------------------------
def test_combine_outputs_joins_rows_of_several_predecessors() -> None:
    step = CombineOutputs()
    (result,) = step.process([{"a": 1, "b": 2}, {"a": 3, "b": 4}], [{"c": 5, "d": 6}, {"c": 7, "d": 8}])
    assert result == [{"a": 1, "b": 2, "c": 5, "d": 6}, {"a": 3, "b": 4, "c": 7, "d": 8}]
    assert step.inputs == step.outputs == []


def test_combine_outputs_merges_metadata_only_when_a_row_has_some() -> None:
    (result,) = CombineOutputs().process(
        [{"a": 1, "distilabel_metadata": {"x": 1}}, {"a": 2}], [{"b": 1, "distilabel_metadata": {"y": 2}}, {"b": 2}]
    )
    assert result == [{"a": 1, "b": 1, "distilabel_metadata": {"x": 1, "y": 2}}, {"a": 2, "b": 2}]


# -- pipeline.run() --------------------------------------------------------------------------
def _answers(name: str, model: str, count: int = 3) -> LoadDataFromDicts:
    rows = [{"id": i, "instruction": f"q{i}", "generation": f"{name}{i}", "model_name": model} for i in range(count)]
    return LoadDataFromDicts(name=name, data=rows, batch_size=2)


def test_group_then_expand_then_keep_in_a_pipeline(store_path: str) -> None:  # noqa: F811
    with Pipeline(name="group-expand-keep") as pipeline:
        sources = [_answers("a", "m1"), _answers("b", "m2"), _answers("c", "m3")]
        grouped = GroupColumns(
            columns=["generation", "model_name"], output_columns=["generations", "generation_models"],
            input_batch_size=2,
        )
        expanded = ExpandColumns(columns={"generations": "generation", "generation_models": "model"})
        sources >> grouped >> expanded >> KeepColumns(columns=["id", "generation", "model"])
    rows = rows_of(pipeline.run(storage_parameters={"path": store_path}, use_cache=False))
    assert rows == [
        {"id": i, "generation": f"{name}{i}", "model": model}
        for i in range(3)
        for name, model in (("a", "m1"), ("b", "m2"), ("c", "m3"))
    ]


def test_combine_outputs_then_merge_columns_in_a_pipeline(store_path: str) -> None:  # noqa: F811
    with Pipeline(name="combine-merge") as pipeline:
        queries = LoadDataFromDicts(name="queries", data=[{"id": i, "query": f"q{i}"} for i in range(5)], batch_size=3)
        more = LoadDataFromDicts(
            name="more", data=[{"id": i, "more_queries": [f"r{i}", f"s{i}"]} for i in range(5)], batch_size=2
        )
        combined = CombineOutputs(input_batch_size=4)
        [queries, more] >> combined >> MergeColumns(columns=["query", "more_queries"], output_column="queries")
    rows = rows_of(pipeline.run(storage_parameters={"path": store_path}, use_cache=False))
    assert rows == [{"id": i, "queries": [f"q{i}", f"r{i}", f"s{i}"]} for i in range(5)]


def test_rows_past_the_shortest_predecessor_batch_are_dropped_with_one_warning(caplog) -> None:
    step = CombineOutputs(name="combine")
    with caplog.at_level("WARNING", logger="airflow_dististage.steps.columns.utils"):
        assert list(step.process([{"a": 1}, {"a": 2}, {"a": 3}], [{"b": 1}])) == [[{"a": 1, "b": 1}]]
        assert list(step.process([{"a": 4}], [])) == [[]]
    (record,) = caplog.records
    assert "Step 'combine' received batches of [3, 1] rows" in record.getMessage()
    assert "the 2 row(s) past the shortest batch are dropped" in record.getMessage()


def test_a_value_that_is_not_a_list_fails_expand_naming_step_and_column(store_path: str) -> None:  # noqa: F811
    with Pipeline(name="expand-bad") as pipeline:
        loader = LoadDataFromDicts(data=[{"generation": "b"}])
        loader >> ExpandColumns(name="expand", columns=["generation"])
    with pytest.raises(StepFailedError, match=r"Step 'expand'.*column 'generation' must hold a list, got str 'b'"
                       r".*encoded=True"):
        pipeline.run(storage_parameters={"path": store_path}, use_cache=False)


# -- errors at build time --------------------------------------------------------------------
def test_a_column_no_step_before_produces_is_a_build_time_error() -> None:
    with Pipeline(name="keep-missing") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "x"}]) >> KeepColumns(name="keep", columns=["instruction", "response"])
    with pytest.raises(PipelineValidationError, match=r"Step 'keep' needs column 'response'"):
        pipeline.validate()


def test_merge_columns_takes_one_predecessor() -> None:
    with Pipeline(name="merge-two") as pipeline:
        [_answers("a", "m1"), _answers("b", "m2")] >> MergeColumns(name="merge", columns=["generation"])
    with pytest.raises(PipelineValidationError, match=r"Step 'merge' receives batches from \['a', 'b'\]"):
        pipeline.validate()


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: KeepColumns(name="keep", columns="instruction"), TypeError, r"Step 'keep': columns must be a list"),
        (lambda: KeepColumns(name="keep", columns=[]), ValueError, r"Step 'keep': columns must name at least one"),
        (lambda: KeepColumns(name="keep"), TypeError, r"KeepColumns requires the argument 'columns'"),
        (lambda: GroupColumns(name="group", columns=["a", 1]), TypeError, r"Step 'group': columns must be a list"),
        (
            lambda: GroupColumns(name="group", columns=["a", "b"], output_columns=["x"]),
            ValueError,
            r"Step 'group': output_columns \['x'\] must name one column per column",
        ),
        (lambda: MergeColumns(name="merge", columns=["a"], output_column=3), TypeError, r"Step 'merge': output_col"),
        (
            lambda: ExpandColumns(name="expand", columns=["a"], encoded=["b"]),
            ValueError,
            r"Step 'expand': encoded names \['b'\].*subset of columns",
        ),
        (lambda: ExpandColumns(name="expand", columns={"a": 1}), TypeError, r"Step 'expand': columns must map"),
        (lambda: ExpandColumns(name="expand", columns=["a"], split_statistics="yes"), TypeError, r"split_statistics"),
    ],
)
def test_bad_arguments_name_the_step(make, error, message) -> None:
    with pytest.raises(error, match=message):
        make()


def test_a_row_missing_a_column_names_the_step_and_the_column() -> None:
    with pytest.raises(MissingColumnError, match=r"Step 'keep': a row lacks column 'generation'; it has \['x'\]"):
        next(KeepColumns(name="keep", columns=["generation"]).process([{"x": 1}]))
    with pytest.raises(KeyError):
        next(MergeColumns(name="merge", columns=["a", "b"]).process([{"a": 1}]))
