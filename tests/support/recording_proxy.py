"""An HTTP proxy in front of a real server that keeps every exchange: what opsbot sent, what
came back, and when. Tests against a real OpenAI-compatible server assert the protocol with it
(the fields of each request, the status of each answer, the tokens it used) without reaching
into the client.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    request: dict[str, Any]  # the JSON body sent ({} when none)
    status: int
    response: dict[str, Any]  # the JSON body answered ({} when not JSON)
    sent_at: float  # time.monotonic() when the request arrived
    seconds: float  # until the answer was back from the server

    @property
    def completion_tokens(self) -> int | None:
        usage = self.response.get("usage") or {}
        tokens = usage.get("completion_tokens")
        return tokens if isinstance(tokens, int) else None


class RecordingProxy:
    """Forwards every request to ``upstream`` and keeps the exchange; ``with`` starts and
    stops it. ``base_url`` is the proxy's address with the upstream's path prefix."""

    def __init__(self, upstream: str, timeout_s: float = 600.0) -> None:
        self._upstream = upstream.rstrip("/")
        self._client = httpx.Client(timeout=timeout_s)
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._forward(self, "GET")

            def do_POST(self) -> None:
                proxy._forward(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._client.close()

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def completions(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path.endswith("/chat/completions")]

    def _forward(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        sent_at = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            answer = self._client.request(
                method, self._upstream + handler.path, content=body, headers=headers
            )
            status, content = answer.status_code, answer.content
            content_type = answer.headers.get("content-type", "application/json")
        except httpx.HTTPError as exc:
            status, content = 502, json.dumps({"error": str(exc)}).encode()
            content_type = "application/json"
        self._keep(Exchange(
            method, handler.path, _json(body), status, _json(content),
            sent_at, time.monotonic() - sent_at,
        ))  # fmt: skip
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def _keep(self, exchange: Exchange) -> None:
        with self._lock:
            self._exchanges.append(exchange)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}
