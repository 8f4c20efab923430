"""Drives ``vLLM`` directly on vLLM's CPU platform and prints one JSON report (run in a child process).

``python -m tests.llms.vllm_cpu.engine_report MODEL_DIR`` loads one engine with no engine options
(the CPU defaults apply), generates with every sampling parameter ``vLLM.generate`` passes, with the
tokenizer's and a custom chat template and several generations per chat, unloads it measuring the
process's RSS, loads a second engine with structured output, and unloads that too. The pytest process
never imports vllm: the engine binds this process's threads, and later tests fork.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

from airflow_dististage.llms import vLLM

CHATS = [
    [{"role": "user", "content": "write a short poem about the sea"}],
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is the capital of france?"}],
]
CUSTOM_TEMPLATE = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}[assistant] "
ENGINE = {"max_model_len": 256, "enforce_eager": True}
ALL_SAMPLING = {
    "max_new_tokens": 12,
    "temperature": 0.7,
    "top_p": 0.9,
    "top_k": 20,
    "min_p": 0.01,
    "presence_penalty": 0.1,
    "frequency_penalty": 0.1,
    "repetition_penalty": 1.1,
    "stop": ["never-generated-stop"],
    "stop_token_ids": [2],
    "include_stop_str_in_output": True,
    "seed": 7,
    "extra_sampling_params": {"min_tokens": 3},
}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def rss_mib() -> float:
    """This process's resident set size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def prompt_tokens(llm: vLLM, template: str | None) -> list[int]:
    """How many tokens each of CHATS is once rendered the way ``llm`` renders it."""
    from airflow_dististage.llms.chat import render_chat

    tokenizer = llm._tokenizer
    return [len(tokenizer.encode(render_chat(tokenizer, chat, template), add_special_tokens=False)) for chat in CHATS]


class _ContextProxy:
    """Stands for Flask's ``current_app`` outside an app context: any attribute lookup raises."""

    @property
    def __dict__(self) -> dict[str, Any]:  # type: ignore[override]
        raise RuntimeError("Working outside of application context.")


def main(model: str) -> dict[str, Any]:
    import vllm  # noqa: F401 - the import's own memory is the baseline

    # A loaded module holding such a proxy, as in dag.test(), whose in-process API imports Flask.
    proxies = types.ModuleType("context_proxies")
    proxies.current_app = _ContextProxy()  # type: ignore[attr-defined]
    sys.modules[proxies.__name__] = proxies
    report: dict[str, Any] = {"rss_imported": rss_mib()}
    llm = vLLM(model=model, extra_kwargs=dict(ENGINE))
    report["runs_on_cpu"] = llm.runs_on_cpu()
    llm.load()
    report["engine_kwargs"] = {
        "kv_cache_memory_bytes": llm._engine.llm_engine.vllm_config.cache_config.kv_cache_memory_bytes
    }
    report["rss_loaded"] = rss_mib()
    report["all_sampling"] = llm.generate(CHATS, num_generations=2, **ALL_SAMPLING)
    report["all_sampling_again"] = llm.generate(CHATS, num_generations=2, **ALL_SAMPLING)
    greedy = llm.generate(CHATS, max_new_tokens=16, temperature=0.0)
    report["greedy"] = greedy
    words = re.findall("[A-Za-z]{2,}", greedy[0]["generations"][0])
    if words:
        report["stop"] = words[0]
        report["stopped"] = llm.generate(CHATS[:1], max_new_tokens=16, temperature=0.0, stop=[words[0]])
    report["three"] = llm.generate(CHATS, num_generations=3, max_new_tokens=4)
    report["prompt_tokens"] = prompt_tokens(llm, None)
    llm.chat_template = CUSTOM_TEMPLATE
    report["custom"] = llm.generate(CHATS, max_new_tokens=4, temperature=0.0)
    report["custom_prompt_tokens"] = prompt_tokens(llm, CUSTOM_TEMPLATE)
    llm.unload()
    report["rss_unloaded"] = rss_mib()

    structured = vLLM(model=model, extra_kwargs=dict(ENGINE), structured_output={"format": "json", "schema": PERSON})
    structured.load()
    report["rss_reloaded"] = rss_mib()
    report["structured"] = structured.generate(CHATS, max_new_tokens=128, temperature=1.0, seed=1)
    structured.unload()
    report["rss_unloaded_again"] = rss_mib()
    report["proxies_module_kept"] = sys.modules.get(proxies.__name__) is proxies
    return report


if __name__ == "__main__":
    print("REPORT " + json.dumps(main(sys.argv[1])))
