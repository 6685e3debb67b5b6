"""A scripted Prometheus exporter: ``/metrics`` whose values the test sets while it runs.

    with ScriptedExporter() as exporter:
        exporter.set("opsbot_test_error_ratio", 0.01, labels={"service": "fraud-scorer"})
        exporter.set_rate("opsbot_test_requests_total", 10.0, labels={"service": "fraud-scorer"})
        ...  # Prometheus scrapes exporter.target
        exporter.set("opsbot_test_error_ratio", 0.2, labels={"service": "fraud-scorer"})

Gauges hold what ``set`` gave them. Counters grow continuously at the rate ``set_rate`` gave
them (computed at scrape time, so ``rate()`` sees a clean line) plus whatever ``inc`` adds.
Serves on 127.0.0.1 on a port the OS picks; text exposition format 0.0.4.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

from tests.support.lifecycle import StartStop

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

LabelKey = tuple[tuple[str, str], ...]


@dataclass
class _Counter:
    value: float = 0.0  # at ``since``
    rate: float = 0.0  # per second
    since: float = 0.0  # time.monotonic()

    def now(self, at: float) -> float:
        return self.value + self.rate * (at - self.since)


class ScriptedExporter(StartStop):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[str, Literal["gauge", "counter"]] = {}
        self._gauges: dict[str, dict[LabelKey, float]] = {}
        self._counters: dict[str, dict[LabelKey, _Counter]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.scrapes = 0

    # -- script -------------------------------------------------------------------------------

    def set(self, name: str, value: float, *, labels: dict[str, str] | None = None) -> None:
        """Set gauge ``name{labels}`` to ``value``."""
        key = self._key(name, "gauge", labels)
        with self._lock:
            self._gauges.setdefault(name, {})[key] = float(value)

    def inc(self, name: str, amount: float = 1.0, *, labels: dict[str, str] | None = None) -> None:
        """Add ``amount`` (>= 0) to counter ``name{labels}`` at once."""
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(name, "counter", labels)
        with self._lock:
            counter = self._counters.setdefault(name, {}).setdefault(
                key, _Counter(since=time.monotonic())
            )
            counter.value += amount

    def set_rate(
        self, name: str, per_second: float, *, labels: dict[str, str] | None = None
    ) -> None:
        """From now on counter ``name{labels}`` grows by ``per_second`` each second."""
        if per_second < 0:
            raise ValueError("a counter only goes up")
        key = self._key(name, "counter", labels)
        with self._lock:
            now = time.monotonic()
            counter = self._counters.setdefault(name, {}).setdefault(key, _Counter(since=now))
            counter.value, counter.rate, counter.since = counter.now(now), per_second, now

    def _key(
        self, name: str, kind: Literal["gauge", "counter"], labels: dict[str, str] | None
    ) -> LabelKey:
        if not _NAME.match(name):
            raise ValueError(f"not a metric name: {name!r}")
        if kind == "counter" and not name.endswith("_total"):
            raise ValueError(f"name a counter ..._total: {name!r}")
        for label in labels or {}:
            if not _LABEL.match(label) or label.startswith("__"):
                raise ValueError(f"not a label name: {label!r}")
        with self._lock:
            known = self._kinds.setdefault(name, kind)
        if known != kind:
            raise ValueError(f"{name} is a {known}, not a {kind}")
        return tuple(sorted((labels or {}).items()))

    # -- exposition ---------------------------------------------------------------------------

    def render(self) -> bytes:
        lines: list[str] = []
        with self._lock:
            now = time.monotonic()
            for name, gauges in sorted(self._gauges.items()):
                lines.append(f"# TYPE {name} gauge")
                lines += [f"{name}{_labels(k)} {_number(v)}" for k, v in sorted(gauges.items())]
            for name, counters in sorted(self._counters.items()):
                lines.append(f"# TYPE {name} counter")
                lines += [
                    f"{name}{_labels(k)} {_number(c.now(now))}" for k, c in sorted(counters.items())
                ]
            self.scrapes += 1
        return ("\n".join(lines) + "\n").encode()

    # -- server -------------------------------------------------------------------------------

    def start(self) -> Self:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a line per scrape every second is noise

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="scripted-exporter", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("ScriptedExporter not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def target(self) -> str:
        """``host:port``, as a Prometheus static target."""
        return self.url.removeprefix("http://")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def _labels(key: LabelKey) -> str:
    if not key:
        return ""
    escaped = (
        (k, v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")) for k, v in key
    )
    return "{" + ",".join(f'{k}="{v}"' for k, v in escaped) + "}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
