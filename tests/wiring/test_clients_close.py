"""The process's clients hold keep-alive connections; closing the set at shutdown releases every
one of them, the read views' (``reads()``) included, seen from the server's side."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.clients.set import Clients
from bot.config import Settings
from bot.wiring.core import build_core
from tests.support.fleet import wait_for

ANSWERS: dict[str, Any] = {
    "/api/v2/silences": [],
    "/api/v1/query_range": {"status": "success", "data": {"resultType": "matrix", "result": []}},
}


class ConnectionCounter:
    """An HTTP/1.1 server (Alertmanager's and Prometheus's read paths) that counts the
    connections clients hold open to it."""

    def __init__(self) -> None:
        self.open = 0
        self.lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the client's pool keeps the connection

            def setup(self) -> None:
                super().setup()
                with counter.lock:
                    counter.open += 1

            def finish(self) -> None:
                with counter.lock:
                    counter.open -= 1
                super().finish()

            def do_GET(self) -> None:
                body = json.dumps(ANSWERS[self.path.split("?")[0]]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def count(self) -> int:
        with self.lock:
            return self.open

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        wait_for(lambda: self.count() == count, timeout, f"{count} connections open")


@pytest.fixture
def server() -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter()
    counter.thread.start()
    yield counter
    counter.server.shutdown()
    counter.server.server_close()


def use(clients: Clients) -> None:
    """One call through each client, as an action and an enrichment would make."""
    assert clients.alertmanager is not None
    assert clients.prom is not None
    clients.alertmanager.list_silences({"service": "fraud-scorer"})
    end = datetime.now(UTC)
    clients.prom.query_range("up", end - timedelta(minutes=5), end, 60)


def test_closing_the_core_closes_every_connection_its_clients_opened(
    server: ConnectionCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    core = build_core(
        Settings(  # type: ignore[call-arg]
            database_url="sqlite://", alertmanager_url=server.url, prometheus_url=server.url
        )
    )
    try:
        use(core.clients)
        use(core.clients.reads(2.0))  # the read views: the enrichment's, the summaries'
        server.wait_for(3)  # Alertmanager's pool, and one per Prometheus client
    finally:
        core.close()
    server.wait_for(0)
