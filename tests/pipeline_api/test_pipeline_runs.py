"""dry_run, the run's Distiset with pipeline.yaml saved and loaded with distilabel's arguments, GPU-less hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_dististage.distiset import Distiset
from airflow_dististage.llms import vLLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime.local import StepFailedError
from airflow_dististage.steps import LoadDataFromDicts, StepResources
from airflow_dististage.steps.tasks import TextGeneration
from tests.pipeline_api.api_steps import Tag
from tests.runtime.steps_for_tests import Numbers, RecordPid


def _two_generators(cache_dir: str) -> Pipeline:
    with Pipeline(name="dry and full", cache_dir=cache_dir) as pipeline:
        Numbers(name="gen", count=20, batch_size=6) >> Tag(name="tagged")
        LoadDataFromDicts(name="rows", data=[{"word": f"w{i}"} for i in range(10)], batch_size=6) >> Tag(name="words")
    return pipeline


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pipeline, Distiset, Distiset, Distiset]:
    """A dry run with the generators' own batch size, then a normal run and another dry run."""
    pipeline = _two_generators(str(tmp_path_factory.mktemp("cache")))
    dry = pipeline.dry_run(parameters={"tagged": {"tag": "dry"}}, batch_size=6)
    full = pipeline.run()
    dry_again = pipeline.dry_run(batch_size=2)
    return pipeline, dry, full, dry_again


def _rows(distiset: Distiset, name: str) -> list[dict]:
    return distiset[name]["train"].to_list()


def test_a_dry_run_yields_one_batch_per_generator_and_leaves_the_pipeline_for_a_complete_run(runs) -> None:
    pipeline, dry, full, dry_again = runs
    assert _rows(dry, "tagged") == [{"n": n, "tag": "dry"} for n in range(6)]
    assert _rows(dry, "words") == [{"word": f"w{i}", "tag": "t"} for i in range(6)]
    # Same batch size as the generators' own: only the dry run's own folder keeps its one batch from the run.
    assert _rows(full, "tagged") == [{"n": n, "tag": "dry"} for n in range(20)]  # parameters stay, as in distilabel
    assert _rows(full, "words") == [{"word": f"w{i}", "tag": "t"} for i in range(10)]
    assert _rows(dry_again, "tagged") == [{"n": n, "tag": "dry"} for n in range(2)]
    assert (pipeline.steps["gen"].batch_size, pipeline.steps["rows"].batch_size) == (6, 6)
    assert dry.pipeline_config["pipeline"]["steps"][0]["step"]["batch_size"] == 6


def test_the_runs_distiset_saves_and_loads_with_distilabels_arguments(runs, tmp_path: Path) -> None:
    pipeline, _, full, _ = runs
    assert full.pipeline_config == pipeline.dump()
    url = f"file://{tmp_path}/saved"
    full.save_to_disk(
        url, max_shard_size=None, num_shards=2, num_proc=None, storage_options={},
        save_card=True, save_pipeline_config=True, save_pipeline_log=True,
    )
    configs = tmp_path / "saved" / "distiset_configs"
    assert sorted(path.name for path in configs.iterdir()) == ["README.md", "metadata.json", "pipeline.yaml"]  # no log
    loaded = Distiset.load_from_disk(url)
    assert loaded.metadata == full.metadata and "token_usage" in loaded.metadata
    assert len(list((tmp_path / "saved" / "tagged" / "train").glob("data-*-of-00002.arrow"))) == 2
    card = (configs / "README.md").read_text()
    assert card.startswith("---\nsize_categories: n<1K\ntags:\n- synthetic\n- distilabel\n")
    assert "Configuration: tagged (20 rows)" in card and '"word": "w0"' in card

    loaded = Distiset.load_from_disk(url, keep_in_memory=True, storage_options={})
    assert sorted(loaded) == ["tagged", "words"]
    assert _rows(loaded, "tagged") == _rows(full, "tagged")
    assert loaded.pipeline_config == full.pipeline_config
    assert loaded.pipeline_path == configs / "pipeline.yaml"
    assert Pipeline.from_yaml(loaded.pipeline_path).dump() == pipeline.dump()


def test_save_options_logs_and_splits_round_trip(runs, tmp_path: Path) -> None:
    _, _, full, _ = runs
    distiset = Distiset({name: dataset for name, dataset in full.items()})
    distiset.pipeline_config, distiset.pipeline_log = full.pipeline_config, "step gen: 20 rows\n"
    distiset.save_to_disk(
        tmp_path / "bare", max_shard_size="1MB", save_card=False, save_pipeline_config=False, save_pipeline_log=False
    )
    assert list((tmp_path / "bare" / "distiset_configs").iterdir()) == []
    assert Distiset.load_from_disk(tmp_path / "bare").pipeline_config is None

    distiset.train_test_split(train_size=0.75, seed=1)
    assert {name: {split: len(rows) for split, rows in dataset.items()} for name, dataset in distiset.items()} == {
        "tagged": {"train": 15, "test": 5}, "words": {"train": 7, "test": 3}
    }
    distiset.save_to_disk(tmp_path / "split", num_shards={"train": 2})
    loaded = Distiset.load_from_disk(str(tmp_path / "split"))
    assert sorted([*loaded["tagged"]["train"]["n"], *loaded["tagged"]["test"]["n"]]) == list(range(20))
    assert loaded.pipeline_log == "step gen: 20 rows\n"
    assert loaded.log_filename_path == tmp_path / "split" / "distiset_configs" / "pipeline.log"
    with pytest.raises(ValueError, match="takes max_shard_size or num_shards, not both"):
        distiset.save_to_disk(tmp_path / "both", max_shard_size="1MB", num_shards=2)
    with pytest.raises(ValueError, match="train_size must be a float between 0 and 1"):
        distiset.train_test_split(train_size=1.0)
    with pytest.raises(FileNotFoundError, match="No saved Distiset configurations"):
        Distiset.load_from_disk(tmp_path / "bare" / "distiset_configs")
    with pytest.raises(FileNotFoundError, match="it is not a folder"):
        Distiset.load_from_disk(tmp_path / "nowhere")


def test_gpu_steps_run_on_a_host_without_gpus_after_one_warning_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DISTISTAGE_GPUS", "")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with Pipeline(name="no gpus", cache_dir=str(tmp_path)) as pipeline:
        Numbers(name="gen", count=30, batch_size=5) >> RecordPid(
            name="on_gpu", input_batch_size=5, resources=StepResources(replicas=2, gpus=1)
        ) >> Tag(name="two_gpus", resources=StepResources(gpus=2))
    rows = pipeline.run()["default"]["train"].to_list()
    assert sorted(row["n"] for row in rows) == list(range(30))
    assert {row["gpus"] for row in rows} == {None}  # no device was claimed for them
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert [message for message in warnings if "'on_gpu'" in message] == [
        "Step 'on_gpu' declares 1 GPU(s) per replica but this host has none: it runs without a GPU"
        " (an LLM that needs one fails with its own error)."
    ]
    assert len([message for message in warnings if "'two_gpus'" in message]) == 1


def test_an_llm_that_needs_a_gpu_fails_its_step_with_its_own_error_on_a_host_without_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DISTISTAGE_GPUS", "")
    with Pipeline(name="vllm without gpus", cache_dir=str(tmp_path)) as pipeline:
        LoadDataFromDicts(data=[{"instruction": "hi"}]) >> TextGeneration(name="generate", llm=vLLM(model="/no/model"))
    with pytest.raises(StepFailedError, match=r"Step 'generate' \(replica 0\) failed: .*(vllm|model)"):
        pipeline.run()
    assert any("Step 'generate' declares 1 GPU(s)" in record.getMessage() for record in caplog.records)


def test_a_pipeline_no_file_can_hold_still_runs_without_pipeline_yaml(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Pipeline(name="objects", cache_dir=str(tmp_path)) as pipeline:
        LoadDataFromDicts(name="gen", data=[], columns=["n"]) >> Tag(name="tag", extra={"when": object()})
    distiset = pipeline.run()
    assert distiset.pipeline_config is None
    assert any("its Distiset gets no pipeline.yaml: Step 'tag'.extra['when']" in r.getMessage() for r in caplog.records)
    distiset.save_to_disk(tmp_path / "saved", max_shard_size="1MB")  # an empty split still gets its one shard
    distiset.pipeline_config = {"pipeline": {"steps": [object()]}}
    distiset.save_to_disk(tmp_path / "saved", max_shard_size="1MB")
    assert any("saved without pipeline.yaml: The pipeline holds a value a YAML file" in r.getMessage() for r in caplog.records)
    assert sorted(path.name for path in (tmp_path / "saved" / "distiset_configs").iterdir()) == ["README.md", "metadata.json"]
    assert "This configuration has no rows." in (tmp_path / "saved" / "distiset_configs" / "README.md").read_text()
    assert Distiset.load_from_disk(tmp_path / "saved")["default"]["train"].column_names == ["n", "tag"]


def test_rows_given_to_run_stay_out_of_the_file_and_a_loaded_pipeline_takes_them_again(tmp_path: Path) -> None:
    with Pipeline(name="dataset rows", cache_dir=str(tmp_path)) as pipeline:
        Tag(name="tag")
    first = pipeline.run(dataset=[{"word": "secret-ish row"}])
    (loader,) = [entry["step"] for entry in first.pipeline_config["pipeline"]["steps"] if entry["name"] != "tag"]
    assert "data" not in loader and loader["columns"] is None
    loaded = Pipeline.from_dict(first.pipeline_config)
    assert list(loaded.steps) == ["tag", "load_data_from_dicts_0"]
    rows = loaded.run(dataset=[{"word": "again"}])["default"]["train"].to_list()
    assert rows == [{"word": "again", "tag": "t"}]


def test_missing_requirements_stop_a_run_before_any_step(tmp_path: Path) -> None:
    requirements = ["surely-not-installed-dististage>=1"]
    with Pipeline(name="needs", cache_dir=str(tmp_path), requirements=requirements) as pipeline:
        Numbers(name="gen", count=3)
    with pytest.raises(ModuleNotFoundError, match=r"needs packages that are not installed: \['surely-not-installed"):
        pipeline.run()
    assert list(tmp_path.iterdir()) == []
