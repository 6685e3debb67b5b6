"""A real Alertmanager (``tests/integration/promstack.Alertmanager``) with a webhook receiver that
keeps what it is sent: for the silence tests, which need to see what Alertmanager notifies.

    with SilencingStack(tmp) as am:
        am.fire({"alertname": "X", "service": "a"})   # POST /api/v2/alerts
        am.wait_until(lambda: am.notified({"service": "a"}), "a notification for a")

The route groups by ``alertname`` and ``service`` and waits 1 s (``group_wait``) before the
first notification of a group, then 2 s (``group_interval``) between updates. A test module
starts one (a module-scoped fixture) and keeps its tests apart by label values.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import httpx
import yaml

from tests.integration.promstack import Alertmanager, binary, check_config, wait_until
from tests.support.lifecycle import StartStop

TOKEN = "silence-test-receiver-token"
WAIT_S = 20.0


class WebhookReceiver(StartStop):
    """An HTTP server on 127.0.0.1 that keeps each Alertmanager notification (bearer ``TOKEN``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: list[dict[str, Any]] = []
        self.refused = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    with receiver._lock:
                        receiver.refused += 1
                    self.send_error(401)
                    return
                with receiver._lock:
                    receiver._bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="am-receiver", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "WebhookReceiver not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhook"

    def notifications(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._bodies)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


class SilencingStack(StartStop):
    """Alertmanager on loopback, notifying a ``WebhookReceiver``."""

    def __init__(self, tmp: Path) -> None:
        self.receiver = WebhookReceiver()
        self.tmp = tmp
        self.am: Alertmanager | None = None

    def start(self) -> Self:
        self.receiver.start()
        try:
            self.am = Alertmanager(self.tmp, self.receiver.url, TOKEN).start()
        except BaseException:
            self.receiver.stop()
            raise
        return self

    def stop(self) -> None:
        if self.am is not None:
            self.am.stop()
        self.receiver.stop()

    @property
    def url(self) -> str:
        assert self.am is not None, "SilencingStack not started"
        return self.am.url

    def fire(self, *alerts: dict[str, str]) -> None:
        """Post firing alerts with these labels, as Prometheus does (``/api/v2/alerts``)."""
        now = datetime.now(UTC)
        body = [
            {
                "labels": labels,
                "annotations": {"summary": f"{labels.get('alertname')} on {labels.get('service')}"},
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(minutes=10)).isoformat(),
            }
            for labels in alerts
        ]
        httpx.post(f"{self.url}/api/v2/alerts", json=body, timeout=5).raise_for_status()

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` for alerts carrying ``labels`` (Alertmanager's own shape)."""
        params = [("filter", f'{k}="{v}"') for k, v in labels.items()]
        response = httpx.get(f"{self.url}/api/v2/alerts", params=params, timeout=5)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    def silences(self, **labels: str) -> list[dict[str, Any]]:
        """``GET /api/v2/silences`` with these labels as the filter, in any state."""
        params = [("filter", f'{k}="{v}"') for k, v in labels.items()]
        response = httpx.get(f"{self.url}/api/v2/silences", params=params, timeout=5)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    def notified(self, labels: dict[str, str]) -> bool:
        """Whether a notification carried a firing alert with (at least) these labels."""
        return any(
            alert["status"] == "firing"
            and all(alert["labels"].get(k) == v for k, v in labels.items())
            for body in self.receiver.notifications()
            for alert in body["alerts"]
        )

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        def details() -> str:
            sent = json.dumps(self.receiver.notifications())[:2000]
            assert self.am is not None
            return f"notifications: {sent}\n{self.am.log_tail()}"

        wait_until(condition, timeout, what, details)


class SlackAndWebhookAlertmanager(Alertmanager):
    """Alertmanager notifying two receivers on one route for every group: its own Slack
    integration (``slack_configs``, posting with a bot token to ``chat.postMessage`` of
    ``slack_api_url``, as a team does when Alertmanager posts to the channel itself) and
    opsbot's webhook. Both routes ``continue``, so each new group notifies both at once, after
    ``group_wait``."""

    def __init__(
        self,
        tmp: Path,
        webhook_url: str,
        webhook_token: str,
        *,
        slack_api_url: str,
        slack_token: str,
        slack_channel: str,
        group_wait: str = "100ms",
        group_interval: str = "1s",
    ) -> None:
        super().__init__(tmp, webhook_url, webhook_token)
        self.slack_api_url = slack_api_url
        self.slack_token = slack_token
        self.slack_channel = slack_channel
        self.group_wait = group_wait
        self.group_interval = group_interval
        self.slack_token_path = tmp / "slack-token"

    def write_config(self) -> None:
        self.token_path.write_text(self.bearer_token)
        self.token_path.chmod(0o600)
        self.slack_token_path.write_text(self.slack_token)
        self.slack_token_path.chmod(0o600)

        def bearer(path: Path) -> dict[str, Any]:
            return {"authorization": {"type": "Bearer", "credentials_file": str(path)}}

        timing = {
            "group_by": ["alertname", "service"],
            "group_wait": self.group_wait,
            "group_interval": self.group_interval,
            "repeat_interval": "1h",
        }
        config = {
            "route": {
                "receiver": "opsbot",
                **timing,
                "routes": [
                    {"receiver": "slack", "continue": True, **timing},
                    {"receiver": "opsbot", "continue": True, **timing},
                ],
            },
            "receivers": [
                {
                    "name": "slack",
                    "slack_configs": [
                        {
                            "api_url": f"{self.slack_api_url.rstrip('/')}/chat.postMessage",
                            "channel": self.slack_channel,
                            "send_resolved": False,
                            "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}"
                            " on {{ .CommonLabels.service }}",
                            "text": "{{ .CommonAnnotations.summary }}",
                            "http_config": bearer(self.slack_token_path),
                        }
                    ],
                },
                {
                    "name": "opsbot",
                    "webhook_configs": [
                        {
                            "url": self.webhook_url,
                            "send_resolved": True,
                            "http_config": bearer(self.token_path),
                        }
                    ],
                },
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        check_config([binary("amtool"), "check-config", str(self.config_path)])


def post_alerts(am_url: str, *alerts: dict[str, str], minutes: int = 10) -> None:
    """Firing alerts with these labels, posted as Prometheus posts them (``/api/v2/alerts``)."""
    now = datetime.now(UTC)
    body = [
        {
            "labels": labels,
            "annotations": {"summary": f"{labels.get('alertname')} on {labels.get('service')}"},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=minutes)).isoformat(),
        }
        for labels in alerts
    ]
    httpx.post(f"{am_url}/api/v2/alerts", json=body, timeout=5).raise_for_status()
