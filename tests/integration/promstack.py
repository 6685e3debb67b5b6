"""The real monitoring stack on loopback for tests: an exporter, Prometheus, Alertmanager.

These are plain helpers (context managers), not fixtures:

    with ProbeExporter() as exporter, \\
         Alertmanager(tmp / "am", webhook_url, token) as am, \\
         Prometheus(tmp / "prom", exporter.url, am.url) as prom:
        exporter.set(1)  # -> FraudScorerDown fires -> Alertmanager -> webhook

Each process gets a free port on 127.0.0.1, its files (config, data, log) in its own directory,
and its config checked with ``promtool`` / ``amtool`` before it starts. The binaries come from the
Debian packages ``prometheus`` and ``prometheus-alertmanager``; ``scripts/test.sh`` installs them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.lifecycle import StartStop
from tests.support.server import free_port

ALERT_NAME = "FraudScorerDown"
SERVICE = "fraud-scorer"
METRIC = "opsbot_test_incident_active"
SUMMARY = "Fraud scorer is down"
DESCRIPTION = "The fraud-scorer probe reports an active incident."
RUNBOOK_URL = "https://runbooks.example/fraud-scorer"

LOG_TAIL = 3000


def binary(name: str) -> str:
    """The absolute path of ``name`` on PATH, or a clear error saying how to get it."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"`{name}` is not on PATH. The integration tests run the real Prometheus and "
            "Alertmanager: run scripts/test.sh (it installs the Debian packages prometheus and "
            "prometheus-alertmanager), or: DEBIAN_FRONTEND=noninteractive apt-get install -y "
            "--no-install-recommends prometheus prometheus-alertmanager"
        )
    return path


def check_config(argv: list[str]) -> None:
    """Run a config checker (promtool / amtool); raise with its output if it refuses."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, details: Callable[[], str]
) -> None:
    """Poll ``condition`` every 50 ms until it holds; TimeoutError with ``details()`` if not."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not true within {timeout}s\n{details()}")
        time.sleep(0.05)


def metric_value(text: str, sample: str, **labels: str) -> float | None:
    """Sum of the samples named ``sample`` whose labels include ``labels``; None if none match."""
    found: float | None = None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                found = (found or 0.0) + s.value
    return found


# -- the exporter -------------------------------------------------------------------------------


class ProbeExporter(StartStop):
    """``/metrics`` with one gauge, ``opsbot_test_incident_active{service="fraud-scorer"}``."""

    def __init__(self, value: int = 0) -> None:
        self._value = value
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def set(self, value: int) -> None:
        with self._lock:
            self._value = value

    def render(self) -> bytes:
        with self._lock:
            value = self._value
        return (
            f"# HELP {METRIC} 1 while the test wants the alert to fire.\n"
            f"# TYPE {METRIC} gauge\n"
            f'{METRIC}{{service="{SERVICE}"}} {value}\n'
        ).encode()

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
                pass  # one line per scrape each second is noise

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="probe-exporter", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("ProbeExporter not started")
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


# -- processes ----------------------------------------------------------------------------------


class _Daemon(StartStop, ABC):
    """A server binary on 127.0.0.1:<free port>, logging to ``<tmp>/<name>.log``."""

    name = "daemon"

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def write_config(self) -> None: ...

    @abstractmethod
    def command(self) -> list[str]: ...

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self) -> str:
        return f"--- {self.log_path} (tail) ---\n{self.logs()[-LOG_TAIL:]}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=2)

    def start(self, timeout: float = 20.0) -> Self:
        self.write_config()
        argv = self.command()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, cwd=self.tmp, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_until(self._ready, timeout, f"{self.name} /-/ready", self.log_tail)
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode} during startup: "
                f"{' '.join(self.command())}\n{self.log_tail()}"
            )
        try:
            return self.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def metrics(self) -> str:
        response = self.get("/metrics")
        response.raise_for_status()
        return response.text


class Alertmanager(_Daemon):
    """Alertmanager with one webhook receiver, authenticated with a bearer token from a file."""

    name = "alertmanager"

    def __init__(self, tmp: Path, webhook_url: str, bearer_token: str) -> None:
        super().__init__(tmp)
        self.webhook_url = webhook_url
        self.bearer_token = bearer_token
        self.config_path = tmp / "alertmanager.yml"
        self.token_path = tmp / "am-token"

    def write_config(self) -> None:
        self.token_path.write_text(self.bearer_token)
        self.token_path.chmod(0o600)
        config = {
            "route": {
                "receiver": "opsbot",
                "group_by": ["alertname", "service"],
                "group_wait": "1s",
                "group_interval": "2s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "opsbot",
                    "webhook_configs": [
                        {
                            "url": self.webhook_url,
                            "send_resolved": True,
                            "http_config": {
                                "authorization": {
                                    "type": "Bearer",
                                    "credentials_file": str(self.token_path),
                                }
                            },
                        }
                    ],
                }
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        check_config([binary("amtool"), "check-config", str(self.config_path)])

    def command(self) -> list[str]:
        return [
            binary("prometheus-alertmanager"),
            f"--config.file={self.config_path}",
            f"--storage.path={self.tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # no gossip port on 0.0.0.0:9094
            f"--web.external-url={self.url}",
            "--log.level=debug",
        ]

    def notifications(self) -> tuple[float, float]:
        """Webhook notifications ``(attempted, failed)``, from Alertmanager's own /metrics."""
        text = self.metrics()
        total = metric_value(text, "alertmanager_notifications_total", integration="webhook")
        failed = metric_value(
            text, "alertmanager_notifications_failed_total", integration="webhook"
        )
        return total or 0.0, failed or 0.0


class Prometheus(_Daemon):
    """Prometheus scraping the exporter every second and alerting ``FraudScorerDown`` at once.

    ``exporter_url`` may be any ``http://host:port`` serving ``/metrics`` (a running opsbot too),
    scraped as ``job``. Without an ``alertmanager_url`` it only scrapes: no rules, no alerting,
    and ``wait_wired`` waits for the scrape alone. ``query`` runs an instant PromQL query.
    """

    name = "prometheus"

    def __init__(
        self,
        tmp: Path,
        exporter_url: str,
        alertmanager_url: str | None = None,
        *,
        job: str = "probe",
    ) -> None:
        super().__init__(tmp)
        self.job = job
        self.exporter_target = exporter_url.removeprefix("http://").rstrip("/")
        self.alertmanager_target = (
            alertmanager_url.removeprefix("http://").rstrip("/") if alertmanager_url else None
        )
        self.config_path = tmp / "prometheus.yml"
        self.rules_path = tmp / "rules.yml"

    def write_config(self) -> None:
        rules = {
            "groups": [
                {
                    "name": "opsbot-test",
                    "rules": [
                        {
                            "alert": ALERT_NAME,
                            "expr": f"{METRIC} == 1",
                            "for": "0s",
                            "labels": {"severity": "critical", "service": SERVICE},
                            "annotations": {
                                "summary": SUMMARY,
                                "description": DESCRIPTION,
                                "runbook_url": RUNBOOK_URL,
                            },
                        }
                    ],
                }
            ]
        }
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": self.job, "static_configs": [{"targets": [self.exporter_target]}]}
            ],
        }
        if self.alertmanager_target is not None:
            config["rule_files"] = [str(self.rules_path)]
            config["alerting"] = {
                "alertmanagers": [{"static_configs": [{"targets": [self.alertmanager_target]}]}]
            }
            self.rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        check_config([binary("promtool"), "check", "config", str(self.config_path)])

    def command(self) -> list[str]:
        return [
            binary("prometheus"),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--web.external-url={self.url}",
        ]

    def start(self, timeout: float = 20.0, *, wait_wired: bool = True) -> Self:
        """Start and wait for ``/-/ready``; then, unless ``wait_wired=False`` (call
        ``wait_wired()`` yourself later), until scraping and alerting are wired up."""
        super().start(timeout)
        if wait_wired:
            self.wait_wired(timeout)
        return self

    def wait_wired(self, timeout: float = 20.0) -> None:
        """Service discovery hands targets over only every 5 s: wait until the exporter has been
        scraped and the Alertmanager is known, or a firing alert could be dropped."""
        try:
            wait_until(
                self._wired, timeout, "prometheus scraping and alerting", self._wiring_details
            )
        except BaseException:
            self.stop()
            raise

    def query(self, promql: str) -> dict[str, Any]:
        """``/api/v1/query``: the whole answer (``status``, ``data`` or ``error``), any status."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        answer: dict[str, Any] = response.json()
        return answer

    def _api(self, path: str) -> Any:
        return self.get(f"/api/v1/{path}").json()["data"]

    def _wired(self) -> bool:
        alertmanager = self.alertmanager_target
        try:
            targets = self._api("targets")["activeTargets"]
            managers = self._api("alertmanagers")["activeAlertmanagers"] if alertmanager else []
        except (httpx.HTTPError, ValueError, KeyError):
            return False
        scraped = any(t.get("health") == "up" for t in targets)
        return scraped and (alertmanager is None or any(alertmanager in m["url"] for m in managers))

    def _wiring_details(self) -> str:
        try:
            state = json.dumps(
                {"targets": self._api("targets"), "alertmanagers": self._api("alertmanagers")}
            )
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            state = repr(exc)
        return f"{state[:LOG_TAIL]}\n{self.log_tail()}"

    def alert_state(self) -> str | None:
        """``pending``/``firing`` for ``FraudScorerDown`` in Prometheus; None when inactive."""
        for alert in self._api("alerts")["alerts"]:
            if alert["labels"].get("alertname") == ALERT_NAME:
                return str(alert["state"])
        return None
