"""Client-side limits of a RemoteLLM, shared by all its requests: rates measured at a real loopback
server, and back-off on 429 that lowers the concurrency, then recovers."""

from __future__ import annotations

import asyncio

from airflow_dististage.llms import OpenAILLM
from airflow_dististage.llms.request_gate import RequestGate
from tests.llms.openai_server import FakeOpenAIServer


def _chats(count: int, words: int = 1) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": " ".join([f"row{index}"] * words)}] for index in range(count)]


def _most_in_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    return max(sum(1 for other in times[start:] if other - first < seconds) for start, first in enumerate(times))


def _generate(server: FakeOpenAIServer, count: int, words: int = 1, **settings):
    llm = OpenAILLM(model="m", base_url=server.base_url, api_key="k", **settings)
    llm.load()
    try:
        outputs = [output for half in (_chats(count, words)[: count // 2], _chats(count, words)[count // 2 :])
                   for output in llm.generate(half, max_new_tokens=4)]
        return outputs, llm.request_gate()
    finally:
        llm.unload()


def test_max_requests_per_minute_spaces_requests_across_batches() -> None:
    with FakeOpenAIServer() as server:
        outputs, _ = _generate(server, 24, max_requests_per_minute=1200)  # 20 a second

    assert all(output["generations"][0].startswith("echo 0: row") for output in outputs)
    arrivals = server.arrivals
    assert max(arrivals) - min(arrivals) >= 23 * 0.05 * 0.9
    assert _most_in_window(arrivals, 0.5) <= 10 + 2  # T * rate + 1, and a little jitter at the server


def test_max_tokens_per_minute_paces_by_the_tokens_the_server_reports() -> None:
    # Each request is estimated at about 13 + 1 + 4 tokens before it is sent; the server reports 10 + 12 = 22.
    with FakeOpenAIServer() as server:
        _generate(server, 20, words=10, max_tokens_per_minute=22 * 60 * 20)  # 20 such requests a second

    arrivals = sorted(server.arrivals)
    assert arrivals[-1] - arrivals[0] >= 19 * 0.05 * 0.8
    assert _most_in_window(arrivals, 0.5) <= 10 + 3


def test_429s_lower_the_concurrency_and_every_row_gets_its_answer() -> None:
    with FakeOpenAIServer(delay=0.05, capacity=4, retry_after=0.05) as server:
        outputs, gate = _generate(server, 60, max_concurrency=16, max_retries=30, retry_backoff=0.01)

    assert [output.get("error") for output in outputs] == [None] * 60
    assert [output["generations"][0] for output in outputs] == [f"echo 0: row{index}" for index in range(60)]
    assert server.throttled > 0
    assert gate.throttled_count == server.throttled
    assert gate.limit is not None and gate.limit < 16, "the 429s lowered the concurrency"


def test_the_concurrency_limit_halves_on_429_and_grows_back_with_answers() -> None:
    async def scenario() -> list[float]:
        gate = RequestGate(max_concurrency=16)
        seen = []
        gate.throttled(0.0)
        seen.append(gate.limit)
        gate.throttled(0.0)  # the same burst of 429s: cut once
        seen.append(gate.limit)
        for _ in range(200):
            async with gate.slot():
                gate.succeeded()
        seen.append(gate.limit)
        return seen

    assert asyncio.run(scenario()) == [8.0, 8.0, 16.0]


def test_a_429_pauses_every_request_for_its_retry_after() -> None:
    async def scenario() -> float:
        gate = RequestGate(max_concurrency=4)
        loop = asyncio.get_running_loop()
        gate.throttled(0.3)
        start = loop.time()
        await asyncio.gather(*(gate.pace() for _ in range(3)))
        return loop.time() - start

    assert 0.28 <= asyncio.run(scenario()) < 1.0
