"""vLLM on a real GPU with the tiny model (skipped where there is no CUDA GPU or no vllm).

The pytest process never initialises CUDA itself: the runtime forks step processes, and a fork
of a process holding a CUDA context cannot use the GPU. Direct vLLM use runs in a child process.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_dististage.llms import vLLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import StepResources
from airflow_dististage.steps.tasks import TextGeneration
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.gpu

ENGINE = {"max_model_len": 256, "gpu_memory_utilization": 0.25, "enforce_eager": True}

_LOAD_UNLOAD_LOAD = """
import json, subprocess, sys
from airflow_dististage.llms import vLLM

def used_mib():
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])

chats = [
    [{"role": "user", "content": "write a poem"}],
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is the capital of france?"}],
]
report = {"before": used_mib()}
llm = vLLM(model=sys.argv[1], extra_kwargs=json.loads(sys.argv[2]))
llm.load()
report["loaded"] = used_mib()
report["outputs"] = llm.generate(chats, num_generations=2, max_new_tokens=6, temperature=0.8, seed=1)
tokenizer = llm._tokenizer
prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
report["prompt_tokens"] = [len(tokenizer.encode(p, add_special_tokens=False)) for p in prompts]
llm.unload()
report["unloaded"] = used_mib()
again = vLLM(model=sys.argv[1], extra_kwargs=json.loads(sys.argv[2]))
again.load()
report["again"] = again.generate(chats[:1], max_new_tokens=4, temperature=0.0)
again.unload()
print(json.dumps(report))
"""


def test_generate_unload_frees_the_gpu_and_a_second_model_loads(tiny_model_dir: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_LOAD_UNLOAD_LOAD), str(tiny_model_dir), json.dumps(ENGINE)],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["loaded"] > report["before"] + 1000, "the engine reserved its KV cache"
    assert report["unloaded"] < report["before"] + 500, "unload() gave the GPU memory back"
    for output, prompt_tokens in zip(report["outputs"], report["prompt_tokens"]):
        assert len(output["generations"]) == 2
        assert output["statistics"]["input_tokens"] == [prompt_tokens] * 2
        assert all(1 <= count <= 6 for count in output["statistics"]["output_tokens"])
    assert len(report["again"][0]["generations"]) == 1


def test_seed_second_example_runs_on_the_gpu(tiny_model_dir: Path, tmp_path: Path) -> None:
    with Pipeline(name="seed-two-gpu") as pipeline:
        text_generation_0 = TextGeneration(
            llm=vLLM(model=str(tiny_model_dir), extra_kwargs=dict(ENGINE), generation_kwargs={"max_new_tokens": 4}),
            resources=StepResources(gpus=1),
        )
        TextGeneration(
            llm=vLLM(model=str(tiny_model_dir), extra_kwargs=dict(ENGINE), generation_kwargs={"max_new_tokens": 4}),
            resources=StepResources(gpus=1),
        )
    rows = [{"instruction": f"question {i}"} for i in range(20)]
    distiset = pipeline.run(
        dataset=rows,
        load_groups=[[text_generation_0.name]],
        use_cache=False,
        storage_parameters={"path": str(tmp_path / "store")},
    )
    for name in ("text_generation_0", "text_generation_1"):
        out = distiset[name]["train"].to_list()
        assert [row["instruction"] for row in out] == [row["instruction"] for row in rows]
        assert all(isinstance(row["generation"], str) for row in out)
        assert all(row["distilabel_metadata"][f"statistics_{name}"]["output_tokens"] >= 1 for row in out)


def test_structured_output_is_enforced_by_guided_decoding(tiny_model_dir: Path, tmp_path: Path) -> None:
    with Pipeline(name="vllm-structured") as pipeline:
        TextGeneration(
            name="digits",
            llm=vLLM(
                model=str(tiny_model_dir),
                extra_kwargs=dict(ENGINE),
                structured_output={"format": "regex", "schema": "[0-9]{3}"},
                generation_kwargs={"max_new_tokens": 8, "temperature": 1.0},
            ),
            resources=StepResources(gpus=1),
        )
    rows = [{"instruction": f"question {i}"} for i in range(8)]
    distiset = pipeline.run(dataset=rows, use_cache=False, storage_parameters={"path": str(tmp_path / "store")})
    generations = distiset["default"]["train"]["generation"]
    assert len(generations) == 8
    assert all(re.fullmatch("[0-9]{3}", text) for text in generations), generations
