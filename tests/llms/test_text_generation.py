"""TextGeneration and ChatGeneration: templates, columns, metadata and generation grouping."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_dististage.llms import TransformersLLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps.tasks import ChatGeneration, TextGeneration


@pytest.fixture(scope="module")
def tiny_llm(tiny_model_dir: Path):
    llm = TransformersLLM(model=str(tiny_model_dir), device="cpu", generation_kwargs={"max_new_tokens": 4, "seed": 0})
    llm.load()
    yield llm
    llm.unload()


def _task(cls=TextGeneration, **kwargs):
    with Pipeline(name="tasks"):
        return cls(**kwargs)


def test_default_names_and_columns_are_distilabels(tiny_model_dir: Path) -> None:
    with Pipeline(name="names"):
        first = TextGeneration(llm=TransformersLLM(model=str(tiny_model_dir)))
        second = TextGeneration(llm=TransformersLLM(model=str(tiny_model_dir)))
        chat = ChatGeneration(llm=TransformersLLM(model=str(tiny_model_dir)))
    assert (first.name, second.name, chat.name) == ("text_generation_0", "text_generation_1", "chat_generation_0")
    assert first.inputs == {"instruction": True, "system_prompt": False}
    assert first.outputs == chat.outputs == ["generation", "model_name"]
    assert chat.inputs == ["messages"]


def test_template_renders_columns_and_system_prompts(tiny_llm: TransformersLLM) -> None:
    task = _task(
        llm=tiny_llm,
        template="Doc: {{ document }}\nQ: {{ question }}{% for e in examples %} [{{ e }}]{% endfor %}",
        columns=["document", "question", "examples"],
        system_prompt="default system",
    )
    row = {"document": "sea", "question": "why?", "examples": ["a", "b"]}
    assert task.format_input(row) == [
        {"role": "system", "content": "default system"},
        {"role": "user", "content": "Doc: sea\nQ: why? [a] [b]"},
    ]
    own = task.format_input({**row, "system_prompt": "row system"})
    assert own[0] == {"role": "system", "content": "row system"}
    assert task.inputs == {"document": True, "question": True, "examples": True, "system_prompt": False}


@pytest.mark.parametrize(
    ("template", "columns", "message"),
    [
        ("{{ instruction }} and {{ context }}", "instruction", r"uses \['context'\], which columns=\['instruction'\]"),
        ("{{ instruction }}", ["instruction", "extra"], r"columns \['extra'\] are not used"),
        ("{{ instruction ", "instruction", "not valid Jinja2"),
        ("{{ instruction }}", [], "non-empty list"),
    ],
)
def test_bad_templates_fail_at_construction_naming_the_step(tiny_llm, template, columns, message) -> None:
    with pytest.raises(ValueError, match=message) as error:
        _task(name="writer", llm=tiny_llm, template=template, columns=columns)
    assert "'writer'" in str(error.value)


def test_bad_rows_are_clear_errors(tiny_llm: TransformersLLM) -> None:
    task = _task(name="writer", llm=tiny_llm)
    with pytest.raises(KeyError, match=r"'writer'.*lacks column\(s\) \['instruction'\]"):
        task.format_input({"prompt": "hi"})
    with pytest.raises(TypeError, match="Use ChatGeneration"):
        task.format_input({"instruction": [{"role": "user", "content": "hi"}]})
    chat = _task(ChatGeneration, name="chatter", llm=tiny_llm)
    with pytest.raises(ValueError, match="'chatter'.*last message must be from the user"):
        chat.format_input({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    with pytest.raises(ValueError, match="'chatter'.*role 'robot'"):
        chat.format_input({"messages": [{"role": "robot", "content": "a"}]})


def test_process_writes_generation_model_name_and_metadata(tiny_llm: TransformersLLM, tiny_model_dir: Path) -> None:
    task = _task(name="writer", llm=tiny_llm)
    rows = [{"instruction": "write a poem", "id": 1}, {"instruction": "hello", "id": 2}]
    (out,) = list(task.process(rows))
    assert [row["id"] for row in out] == [1, 2]
    for row, source in zip(out, rows):
        assert isinstance(row["generation"], str)
        assert row["model_name"] == str(tiny_model_dir)
        meta = row["distilabel_metadata"]
        assert set(meta) == {"raw_input_writer", "raw_output_writer", "statistics_writer"}
        assert meta["raw_input_writer"] == [{"role": "user", "content": source["instruction"]}]
        assert meta["raw_output_writer"] == row["generation"]
        assert meta["statistics_writer"]["input_tokens"] > 0
        assert 1 <= meta["statistics_writer"]["output_tokens"] <= 4


def test_num_generations_gives_a_row_each_or_lists_when_grouped(tiny_llm: TransformersLLM) -> None:
    rows = [{"instruction": "a"}, {"instruction": "b"}]
    flat = _task(name="flat", llm=tiny_llm, num_generations=3)
    (out,) = list(flat.process(rows))
    assert [row["instruction"] for row in out] == ["a"] * 3 + ["b"] * 3
    grouped = _task(name="grouped", llm=tiny_llm, num_generations=3, group_generations=True)
    (out,) = list(grouped.process(rows))
    assert len(out) == 2
    assert all(len(row["generation"]) == 3 and len(row["distilabel_metadata"]) == 3 for row in out)
    assert out[0]["distilabel_metadata"][0]["raw_output_grouped"] == out[0]["generation"][0]


def test_metadata_replaces_an_earlier_tasks_and_raw_fields_can_be_dropped(tiny_llm: TransformersLLM) -> None:
    task = _task(name="second", llm=tiny_llm, add_raw_input=False, add_raw_output=False)
    earlier = {"raw_output_first": "x", "statistics_first": {"input_tokens": 1, "output_tokens": 1}}
    (out,) = list(task.process([{"instruction": "a", "distilabel_metadata": earlier}]))
    assert set(out[0]["distilabel_metadata"]) == {"statistics_second"}  # as distilabel 1.5.3 writes it


def test_chat_generation_answers_conversations(tiny_llm: TransformersLLM) -> None:
    task = _task(ChatGeneration, llm=tiny_llm)
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]
    (out,) = list(task.process([{"messages": messages}]))
    assert out[0]["messages"] == messages
    assert isinstance(out[0]["generation"], str)
    assert out[0]["distilabel_metadata"]["raw_input_chat_generation_0"] == messages


def test_a_failing_format_output_keeps_the_batch(tiny_llm: TransformersLLM) -> None:
    class Strict(TextGeneration):
        def format_output(self, output, input=None):  # noqa: A002
            if input["instruction"] == "bad":
                raise ValueError("cannot parse")
            return {"generation": output}

    task = _task(Strict, name="strict", llm=tiny_llm)
    (out,) = list(task.process([{"instruction": "good"}, {"instruction": "bad"}]))
    assert isinstance(out[0]["generation"], str) and out[1]["generation"] is None
    assert "cannot parse" in out[1]["distilabel_metadata"]["error_strict"]
    assert "error_strict" not in out[0]["distilabel_metadata"]
