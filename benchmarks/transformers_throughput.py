"""Tokens/s of ``TextGeneration`` + ``TransformersLLM`` through ``pipeline.run()`` against direct
``transformers`` generation of the same prompts with the same model (``benchmarks/gpu_check.sh``).

Two figures for ours: end to end (``pipeline.run()`` wall time, model loading and the step processes
included) and in ``generate`` (the time the step spent in ``TransformersLLM.generate``, first call
included); the direct run is timed after an untimed warm-up call.

The step declares ``resources.gpus=1``: the local runner claims a GPU of the host and the step
process sees only it in ``CUDA_VISIBLE_DEVICES`` (printed, with the device torch used). The direct
run then generates the same prompts in batches of ``--prompts-per-call`` (left-padded, greedy, in
this process, after the pipeline: CUDA must not be initialised before the runner forks). Output
tokens are counted up to and including the end-of-sequence token both ways. ``--cpu`` runs the
same on the CPU, without a GPU claim (a smoke run of the script's logic).

    python benchmarks/transformers_throughput.py [--model PATH] [--rows 512] [--max-new-tokens 64]
        [--input-batch-size 64] [--prompts-per-call 256] [--cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from airflow_dististage.llms import TransformersLLM  # noqa: E402
from airflow_dististage.pipeline import Pipeline  # noqa: E402
from airflow_dististage.steps import LoadDataFromDicts, StepResources  # noqa: E402
from airflow_dististage.steps.tasks import TextGeneration  # noqa: E402

REPORT_ENV = "GPU_CHECK_REPORT"


class ReportingTransformersLLM(TransformersLLM):
    """The real TransformersLLM; its step process also reports its device and time in generate."""

    def load(self) -> None:
        super().load()
        self.__dict__["_generate_seconds"] = 0.0

    def generate(self, inputs: Any, num_generations: int = 1, **kwargs: Any) -> Any:  # type: ignore[override]
        start = time.perf_counter()
        outputs = super().generate(inputs, num_generations=num_generations, **kwargs)
        self.__dict__["_generate_seconds"] += time.perf_counter() - start
        return outputs

    def unload(self) -> None:
        device = str(self._model.device) if self._model is not None else None
        name = None
        if device and device.startswith("cuda"):
            import torch

            name = torch.cuda.get_device_name(self._model.device)
        report = {
            "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "device": device,
            "device_name": name,
            "generate_seconds": self.__dict__.get("_generate_seconds", 0.0),
        }
        Path(os.environ[REPORT_ENV]).write_text(json.dumps(report))
        super().unload()


def _prompts(count: int) -> list[dict[str, str]]:
    topics = ["the sea", "a mountain", "rain", "the city at night", "a library", "autumn", "a train", "bread"]
    return [{"instruction": f"Write a short story about {topics[i % len(topics)]}, number {i}."} for i in range(count)]


def run_pipeline(args: argparse.Namespace, model: str, work: Path) -> dict[str, Any]:
    greedy = {"max_new_tokens": args.max_new_tokens, "do_sample": False, "repetition_penalty": 1.0}
    llm = ReportingTransformersLLM(
        model=model,
        device="cpu" if args.cpu else None,
        torch_dtype=args.dtype,
        prompts_per_call=args.prompts_per_call,
        generation_kwargs=greedy,
    )
    resources = StepResources(gpus=0 if args.cpu else 1)
    with Pipeline(name="gpu-check") as pipeline:
        LoadDataFromDicts(data=_prompts(args.rows), batch_size=args.input_batch_size) >> TextGeneration(
            llm=llm, input_batch_size=args.input_batch_size, resources=resources
        )
    os.environ[REPORT_ENV] = str(work / "report.json")
    start = time.perf_counter()
    distiset = pipeline.run(use_cache=False, storage_parameters={"path": str(work / "store")}, show_progress=False)
    seconds = time.perf_counter() - start
    rows = distiset["default"]["train"].to_list()
    tokens = sum(row["distilabel_metadata"]["statistics_text_generation_0"]["output_tokens"] for row in rows)
    report = json.loads((work / "report.json").read_text())
    return {"rows": len(rows), "tokens": tokens, "seconds": seconds, **report}


def run_direct(args: argparse.Namespace, model: str) -> dict[str, Any]:
    """The same prompts with plain transformers: chat template, left padding, greedy generate."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cpu" if args.cpu else "cuda"
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = "auto" if args.dtype == "auto" else getattr(torch, args.dtype)
    network = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(device)
    chats = [[{"role": "user", "content": row["instruction"]}] for row in _prompts(args.rows)]
    texts = [tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) for chat in chats]
    step = args.prompts_per_call or args.input_batch_size
    warm_up = tokenizer(texts[:2], return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    with torch.inference_mode():  # untimed, as the pipeline's first call is not part of its own figure either
        network.generate(**warm_up, max_new_tokens=2, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    tokens = 0
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for first in range(0, len(texts), step):
        encoded = tokenizer(texts[first : first + step], return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = encoded.to(device)
        with torch.inference_mode():
            sequences = network.generate(
                **encoded, max_new_tokens=args.max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        for row in sequences[:, encoded["input_ids"].shape[1] :].tolist():
            eos = tokenizer.eos_token_id
            tokens += row.index(eos) + 1 if eos in row else len(row)
    if device == "cuda":
        torch.cuda.synchronize()
    return {"tokens": tokens, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a local model folder (default: the tiny test model, built offline)")
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--input-batch-size", type=int, default=64)
    parser.add_argument("--prompts-per-call", type=int, default=256)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--cpu", action="store_true", help="smoke run on the CPU, without a GPU claim")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        model = args.model
        if model is None:
            from tests.llms.tiny_model import build_tiny_model

            model = str(build_tiny_model(work / "tiny-model"))
        print(f"model {model}; {args.rows} prompts, {args.max_new_tokens} new tokens at most, greedy;"
              f" input_batch_size {args.input_batch_size}, prompts_per_call {args.prompts_per_call}", flush=True)
        ours = run_pipeline(args, model, work)
        print(
            f"pipeline.run(): {ours['rows']} rows, {ours['tokens']} output tokens; step process saw"
            f" CUDA_VISIBLE_DEVICES={ours['CUDA_VISIBLE_DEVICES']}, model on {ours['device']} ({ours['device_name']});"
            f" {ours['seconds']:.2f} s end to end = {ours['tokens'] / ours['seconds']:.0f} tokens/s,"
            f" {ours['generate_seconds']:.2f} s in generate = {ours['tokens'] / ours['generate_seconds']:.0f} tokens/s",
            flush=True,
        )
        direct = run_direct(args, model)
        print(
            f"direct transformers: {direct['tokens']} output tokens in {direct['seconds']:.2f} s ="
            f" {direct['tokens'] / direct['seconds']:.0f} tokens/s",
            flush=True,
        )
        direct_rate = direct["tokens"] / direct["seconds"]
        print(
            f"ours in generate / direct = {ours['tokens'] / ours['generate_seconds'] / direct_rate:.2f};"
            f" ours end to end / direct = {ours['tokens'] / ours['seconds'] / direct_rate:.2f}"
        )
        if not args.cpu and not (ours["device"] or "").startswith("cuda"):
            sys.exit("the pipeline's model did not run on a GPU")


if __name__ == "__main__":
    main()
