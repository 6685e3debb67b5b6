"""The bot's app under uvicorn in a thread of the test process, on a free port: real HTTP for
senders that must reach it (MLflow's webhooks), without the seconds a new ``opsbot serve``
process takes to import."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from tests.support.server import free_port


@contextmanager
def served(app: FastAPI, timeout: float = 20.0) -> Iterator[str]:
    """``app`` served (lifespan on: background loops run) at the URL yielded; stopped after."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        assert thread.is_alive(), "uvicorn exited during startup"
        assert time.monotonic() < deadline, f"uvicorn did not start in {timeout:g} s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
