"""vLLM throughput: TextGeneration through our runtime vs a direct ``vllm.LLM.generate``.

Both sides answer the same chats with the same model, engine settings and sampling, and every
answer is exactly ``--max-new-tokens`` long (``ignore_eos``), so tokens/s compare like for like.
Each side's time runs from engine start to the last token, load included: the direct side in a
child process (so its GPU memory is gone before ours starts), ours as ``pipeline.run()``. The
target is a ratio (ours / direct) of at least 0.9. Needs vllm: on a GPU, or vLLM's CPU build, where
the direct side takes the engine settings our ``vLLM`` takes there (in-process engine, 1 GiB KV
cache unless ``--gpu-memory-utilization`` is given; see airflow_dististage/llms/vllm_cpu.py)::

    python benchmarks/vllm_throughput.py [--model PATH] [--prompts 1024] [--max-new-tokens 256]
        [--batch-size 1024] [--enforce-eager]

Without ``--model`` it builds the tiny random-weight test model (tests/llms/tiny_model.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def chats(count: int) -> list[list[dict[str, str]]]:
    """The benchmark's chats: distinct prompts of similar length."""
    return [
        [{"role": "user", "content": f"Write a long story about the number {i} and the sea."}] for i in range(count)
    ]


def engine_kwargs(args: argparse.Namespace) -> dict:
    kwargs = {"max_model_len": args.max_model_len, "enforce_eager": args.enforce_eager}
    if args.gpu_memory_utilization is not None:
        kwargs["gpu_memory_utilization"] = args.gpu_memory_utilization
    return kwargs


def sampling_kwargs(args: argparse.Namespace) -> dict:
    return {"temperature": 0.8, "top_p": 0.95, "max_new_tokens": args.max_new_tokens}


def measure_direct(args: argparse.Namespace) -> dict:
    """``vllm.LLM`` + one ``generate`` over all prompts; prints nothing, returns the figures."""
    import contextlib

    started = time.perf_counter()  # ours imports vllm in its step process: both sides count the import
    from vllm import LLM, SamplingParams

    from airflow_dististage.llms.vllm_cpu import cpu_engine_environment, cpu_engine_kwargs, on_cpu_platform

    kwargs, environment = engine_kwargs(args), contextlib.nullcontext()
    if on_cpu_platform():
        kwargs, environment = cpu_engine_kwargs(kwargs), cpu_engine_environment(1)
    with environment:
        llm = LLM(model=args.model, seed=0, **kwargs)
    loaded = time.perf_counter()
    tokenizer = llm.get_tokenizer()
    prompts = [
        tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) for chat in chats(args.prompts)
    ]
    sampling = sampling_kwargs(args)
    params = SamplingParams(
        temperature=sampling["temperature"],
        top_p=sampling["top_p"],
        max_tokens=sampling["max_new_tokens"],
        ignore_eos=True,
    )
    results = llm.generate(prompts, params, use_tqdm=False)
    finished = time.perf_counter()
    tokens = sum(len(completion.token_ids) for result in results for completion in result.outputs)
    return {"seconds": finished - started, "load_seconds": loaded - started, "tokens": tokens,
            "generate_seconds": finished - loaded}


def measure_ours(args: argparse.Namespace, server_url: str | None = None) -> dict:
    """TextGeneration run by ``pipeline.run`` over the same prompts: with ``vLLM``, or with ``OpenAILLM``
    on the vLLM server at ``server_url``."""
    from airflow_dististage.llms import OpenAILLM, vLLM
    from airflow_dististage.pipeline import Pipeline
    from airflow_dististage.steps import StepResources
    from airflow_dististage.steps.tasks import TextGeneration

    if server_url is None:
        generation = {**sampling_kwargs(args), "extra_sampling_params": {"ignore_eos": True}}
        llm = vLLM(model=args.model, extra_kwargs=engine_kwargs(args), generation_kwargs=generation)
    else:
        generation = {**sampling_kwargs(args), "extra_body": {"ignore_eos": True}}
        llm = OpenAILLM(
            model="tiny", base_url=server_url, max_concurrency=args.batch_size, generation_kwargs=generation
        )
    with Pipeline(name="vllm-throughput") as pipeline:
        TextGeneration(
            llm=llm,
            resources=StepResources(gpus=1 if server_url is None else None),
            input_batch_size=args.batch_size,
            add_raw_input=False,
        )
    rows = [{"instruction": chat[0]["content"]} for chat in chats(args.prompts)]
    with tempfile.TemporaryDirectory() as store:
        started = time.perf_counter()
        distiset = pipeline.run(
            dataset=rows, dataset_batch_size=args.batch_size, use_cache=False, storage_parameters={"path": store}
        )
        seconds = time.perf_counter() - started
        out = distiset["default"]["train"]["distilabel_metadata"]  # the only leaf step
    tokens = sum(meta["statistics_text_generation_0"]["output_tokens"] for meta in out)
    return {"seconds": seconds, "tokens": tokens}


def run_direct_in_child(args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--direct-only", "--model", args.model, "--prompts", str(args.prompts),
               "--max-new-tokens", str(args.max_new_tokens), "--max-model-len", str(args.max_model_len),
               *(["--gpu-memory-utilization", str(args.gpu_memory_utilization)] if args.gpu_memory_utilization else []),
               *(["--enforce-eager"] if args.enforce_eager else [])]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    if completed.returncode != 0:
        raise SystemExit(f"direct vLLM run failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder or Hub id (default: the tiny test model)")
    parser.add_argument("--prompts", type=int, default=1024)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1024, help="TextGeneration input_batch_size")
    parser.add_argument("--max-model-len", type=int, default=512)
    parser.add_argument("--gpu-memory-utilization", type=float, help="vLLM's (on CPU: a share of the NUMA node's RAM)")
    parser.add_argument("--enforce-eager", action="store_true", help="no compiled model (faster load)")
    parser.add_argument("--server", action="store_true", help="also: vllm serve + OpenAILLM vs the direct engine")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first direct run")
    parser.add_argument("--direct-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.direct_only:
        print(json.dumps(measure_direct(args)))
        return
    if args.model is None:
        from tests.llms.tiny_model import build_tiny_model

        args.model = str(build_tiny_model(Path(tempfile.mkdtemp(prefix="tiny-model-"))))
    if not args.no_warmup:
        run_direct_in_child(args)  # fills the compile and file caches both timed runs then share
    direct = run_direct_in_child(args)
    ours = measure_ours(args)
    direct_rate = direct["tokens"] / direct["seconds"]
    ours_rate = ours["tokens"] / ours["seconds"]
    print(f"model: {args.model}  prompts: {args.prompts}  max_new_tokens: {args.max_new_tokens}"
          f"  batch: {args.batch_size}")
    print(f"direct vllm.LLM.generate : {direct['tokens']} tokens in {direct['seconds']:.1f} s"
          f" (load {direct['load_seconds']:.1f} s) = {direct_rate:,.0f} tokens/s")
    print(f"TextGeneration (runtime) : {ours['tokens']} tokens in {ours['seconds']:.1f} s = {ours_rate:,.0f} tokens/s")
    print(f"ratio ours/direct        : {ours_rate / direct_rate:.3f} (target >= 0.9)")
    if args.server:
        measure_server(args, direct)


def measure_server(args: argparse.Namespace, direct: dict) -> None:
    """``vllm serve`` + OpenAILLM through ``pipeline.run`` (server started before the clock) vs the
    direct engine's generate call alone."""
    from tests.llms.vllm_cpu.server import vllm_server

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        with vllm_server(args.model, Path(folder) / "server.log", max_model_len=args.max_model_len,
                         enforce_eager=args.enforce_eager) as url:
            startup = time.perf_counter() - started
            served = measure_ours(args, server_url=url)
    direct_rate = direct["tokens"] / direct["generate_seconds"]
    served_rate = served["tokens"] / served["seconds"]
    print(f"direct generate() alone  : {direct['tokens']} tokens in {direct['generate_seconds']:.1f} s"
          f" = {direct_rate:,.0f} tokens/s")
    print(f"vllm serve + OpenAILLM   : {served['tokens']} tokens in {served['seconds']:.1f} s"
          f" (server start {startup:.1f} s, not counted) = {served_rate:,.0f} tokens/s")
    print(f"ratio served/direct      : {served_rate / direct_rate:.3f}")


if __name__ == "__main__":
    main()
