"""An OpenAI-compatible server that answers every chat after a fixed latency, fast enough not to be
the bottleneck of a throughput benchmark.

The tests' ``FakeOpenAIServer`` serves each connection in a thread (about 360 requests/s here); this
one is one asyncio loop (aiohttp) in a thread, so hundreds of requests wait on the latency at once
for little CPU. It records when each request arrived and the most requests in flight.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from aiohttp import web

from tests.llms.openai_server import chat_completion, echo_answer


class LatencyServer:
    """Serves ``POST /v1/chat/completions`` on 127.0.0.1 after ``delay`` seconds (a context manager)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def __enter__(self) -> LatencyServer:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the latency server did not start within 30 s")
        return self

    def __exit__(self, *exc: Any) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        self._loop.run_until_complete(site.start())
        self._port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the port the OS chose
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.arrivals.append(time.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        texts = echo_answer(body["messages"], body.get("n", 1), body.get("max_tokens", 16))
        return web.json_response(chat_completion(body, texts, len(self.arrivals)))
