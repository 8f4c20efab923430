"""A real OpenAI-compatible chat-completions server on loopback, with injectable failures.

``FakeOpenAIServer`` is a ``ThreadingHTTPServer`` in a thread. ``answer`` turns a request into
generations (by default an echo; a test may plug in a real model). ``script`` is a queue of what
the next requests get (``("status", 429)``, ``("sleep", 2.0)``); ``fail_when`` fails matching rows
forever; ``capacity`` answers 429 (with ``Retry-After: retry_after``) to a request that would
exceed that many in flight, as a rate-limited provider does. It records every request, its path,
the API keys it saw, when each arrived (``arrivals``, ``time.monotonic()``) and the most requests in
flight. It speaks HTTP/1.1 with keep-alive and serves each connection in its own thread, so hundreds
of requests can wait on ``delay`` at once.

It also speaks text-generation-inference's generate routes, ``POST /generate`` and ``POST /``
(``{"inputs": prompt, "parameters": {...}}``, answered with ``generated_text`` and ``details``;
the prompt is handed to ``answer`` as one user message), at ``root_url``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Answer = Callable[[list[dict[str, str]], int, int], list[str]]


def echo_answer(messages: list[dict[str, str]], n: int, max_tokens: int) -> list[str]:
    """``"echo <i>: <last user message>"`` for each of the ``n`` choices."""
    return [f"echo {index}: {messages[-1]['content']}" for index in range(n)]


def chat_completion(body: dict[str, Any], texts: list[str], number: int) -> dict[str, Any]:
    """The ``/chat/completions`` answer to request ``body`` with one choice per text (usage in words)."""
    prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
    completion_tokens = sum(len(text.split()) for text in texts)
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            for i, text in enumerate(texts)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class FakeOpenAIServer:
    """Serves ``POST /v1/chat/completions`` on 127.0.0.1 (a context manager)."""

    def __init__(
        self, answer: Answer = echo_answer, delay: float = 0.0, capacity: int | None = None, retry_after: float = 0.0
    ) -> None:
        self.answer = answer
        self.delay = delay
        self.capacity = capacity
        self.retry_after = retry_after
        self.arrivals: list[float] = []
        self.throttled = 0
        self.script: deque[tuple[str, Any]] = deque()
        self.fail_when: Callable[[list[dict[str, str]]], int | None] = lambda messages: None
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.authorizations: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = _ManyConnectionsServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def _next_action(self, messages: list[dict[str, str]]) -> tuple[str, Any]:
        status = self.fail_when(messages)
        if status is not None:
            return ("status", status)
        with self._lock:
            return self.script.popleft() if self.script else ("ok", None)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                """Quiet: pytest output stays readable."""

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.paths.append(self.path)
                    server.authorizations.append(self.headers.get("Authorization", ""))
                    server.arrivals.append(time.monotonic())
                    over = server.capacity is not None and server.in_flight >= server.capacity
                    server.throttled += over
                    if not over:
                        server.in_flight += 1
                        server.max_in_flight = max(server.max_in_flight, server.in_flight)
                if over:
                    headers = {"Retry-After": str(server.retry_after)}
                    return self._send(429, {"error": {"message": "over capacity", "type": "rate_limit"}}, headers)
                try:
                    self._respond(body)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _respond(self, body: dict[str, Any]) -> None:
                if self.path in ("/", "/generate"):
                    return self._generate(body)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                action, value = server._next_action(body["messages"])
                if action == "status":
                    headers = {"Retry-After": "0"} if value == 429 else {}
                    return self._send(value, {"error": {"message": f"injected {value}", "type": "injected"}}, headers)
                time.sleep(value if action == "sleep" else server.delay)
                n = body.get("n", 1)
                texts = server.answer(body["messages"], n, body.get("max_tokens", 16))
                self._send(200, chat_completion(body, texts, len(server.requests)))

            def _generate(self, body: dict[str, Any]) -> None:
                messages = [{"role": "user", "content": body["inputs"]}]
                action, value = server._next_action(messages)
                if action == "status":
                    return self._send(value, {"error": f"injected {value}", "error_type": "injected"})
                time.sleep(value if action == "sleep" else server.delay)
                parameters = body.get("parameters") or {}
                (text,) = server.answer(messages, 1, parameters.get("max_new_tokens", 16))
                output = {
                    "generated_text": text,
                    "details": {
                        "finish_reason": "length",
                        "generated_tokens": len(text.split()),
                        "seed": parameters.get("seed"),
                        "prefill": [],
                        "tokens": [],
                    },
                }
                self._send(200, [output] if self.path == "/" else output)

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler


class _ManyConnectionsServer(ThreadingHTTPServer):
    request_queue_size = 1024  # the default 5 drops connections when hundreds open at once
