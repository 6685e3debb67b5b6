"""Exporter → Prometheus → Alertmanager → opsbot → Slack, with the real binaries on loopback.

A gauge flips to 1, Prometheus fires ``FraudScorerDown``, Alertmanager delivers it to the bot's
webhook with the bearer token from its ``http_config``, and the bot opens a Slack thread; the
gauge flips back to 0 and the same root message is edited to RESOLVED.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.slack.api import SlackEmulator
from tests.integration.promstack import (
    ALERT_NAME,
    SUMMARY,
    Alertmanager,
    ProbeExporter,
    Prometheus,
    metric_value,
    wait_until,
)
from tests.support.server import BotProcess

pytestmark = pytest.mark.integration

TOKEN = "am-integration-token"
CHANNEL = "C0INCIDENT"
FIRE_TIMEOUT = 30.0
RESOLVE_TIMEOUT = 40.0


@dataclass
class Stack:
    exporter: ProbeExporter
    slack: SlackEmulator
    bot: BotProcess
    alertmanager: Alertmanager
    prometheus: Prometheus

    def diagnostics(self) -> str:
        return "\n".join(
            [
                f"slack messages: {json.dumps(self.slack.messages(CHANNEL))[:2000]}",
                f"--- {self.bot.log_path} (tail) ---\n{self.bot.logs()[-3000:]}",
                self.alertmanager.log_tail(),
                self.prometheus.log_tail(),
            ]
        )

    def wait_for_slack(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            self.slack.wait_for(predicate, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnostics()}") from None

    def bot_rejected_unauthorized(self) -> float:
        text = httpx.get(f"{self.bot.url}/metrics", timeout=2).text
        value = metric_value(
            text, "opsbot_webhook_rejected_total", reason="unauthorized", source="alertmanager"
        )
        return value or 0.0


@contextmanager
def monitoring_stack(tmp_path: Path, alertmanager_token: str) -> Iterator[Stack]:
    """The whole chain, started from the Slack end; the bot accepts only ``TOKEN``."""
    with ExitStack() as stack:
        exporter = stack.enter_context(ProbeExporter(value=0))
        slack = stack.enter_context(SlackEmulator(channels=(CHANNEL,)))
        env = {
            "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/opsbot.db",
            "OPSBOT_ALERTMANAGER_TOKEN": TOKEN,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": "integration-signing-secret",
            "OPSBOT_SLACK_API_URL": slack.api_url,
            "OPSBOT_INCIDENT_CHANNEL": CHANNEL,
        }
        bot = BotProcess(env, log_path=tmp_path / "bot.log")  # its URL is known before start
        alertmanager = stack.enter_context(
            Alertmanager(
                tmp_path / "alertmanager", f"{bot.url}/webhooks/alertmanager", alertmanager_token
            )
        )
        prometheus = Prometheus(tmp_path / "prometheus", exporter.url, alertmanager.url)
        stack.callback(prometheus.stop)
        prometheus.start(wait_wired=False)
        # Prometheus's service discovery takes ~5 s to hand over its targets: overlap it with the
        # bot's start-up, then make sure the chain is complete before the test flips the gauge.
        stack.enter_context(bot)
        prometheus.wait_wired()
        yield Stack(exporter, slack, bot, alertmanager, prometheus)


def mentions(message: dict[str, Any], needle: str) -> bool:
    return needle in message["text"] or needle in json.dumps(message["blocks"])


def test_alert_fires_and_resolves_as_one_slack_thread(tmp_path: Path) -> None:
    with monitoring_stack(tmp_path, alertmanager_token=TOKEN) as s:
        assert s.slack.roots(CHANNEL) == []
        s.exporter.set(1)

        def firing_thread_posted() -> bool:
            roots = s.slack.roots(CHANNEL)
            return (
                len(roots) == 1
                and roots[0]["text"].startswith("FIRING:")
                and any(mentions(r, ALERT_NAME) for r in s.slack.replies(CHANNEL, roots[0]["ts"]))
            )

        s.wait_for_slack(firing_thread_posted, FIRE_TIMEOUT, "a FIRING root with its alert reply")
        [root] = s.slack.roots(CHANNEL)
        assert root["text"].startswith("FIRING: #"), root["text"]
        assert SUMMARY in root["text"], root["text"]
        assert root["blocks"][0]["type"] == "header"
        assert SUMMARY in root["blocks"][0]["text"]["text"]

        # Enrichment runs by itself in the background and answers in the same thread (with no
        # catalog and no deploys recorded, it says that nothing changed).
        def enrichment_posted() -> bool:
            return any(mentions(r, "Suspects") for r in s.slack.replies(CHANNEL, root["ts"]))

        s.wait_for_slack(enrichment_posted, FIRE_TIMEOUT, "the enrichment reply in the thread")

        s.exporter.set(0)

        def root_resolved() -> bool:
            roots = s.slack.roots(CHANNEL)
            return any(r["ts"] == root["ts"] and r["text"].startswith("RESOLVED:") for r in roots)

        s.wait_for_slack(root_resolved, RESOLVE_TIMEOUT, "the same root edited to RESOLVED")
        [resolved] = s.slack.roots(CHANNEL)
        assert resolved["ts"] == root["ts"]
        assert resolved["edits"] >= 1
        assert SUMMARY in resolved["text"]

        sent, failed = s.alertmanager.notifications()
        assert sent >= 2, f"firing + resolved notifications expected, got {sent}"
        assert failed == 0, s.diagnostics()
        assert s.bot_rejected_unauthorized() == 0
        assert s.slack.rate_violations() == []
        assert s.slack.emulator_errors() == []


def test_wrong_bearer_token_is_rejected_and_posts_nothing(tmp_path: Path) -> None:
    with monitoring_stack(tmp_path, alertmanager_token=f"not-{TOKEN}") as s:
        s.exporter.set(1)
        wait_until(
            lambda: s.bot_rejected_unauthorized() >= 1 and s.alertmanager.notifications()[1] > 0,
            FIRE_TIMEOUT,
            "bot rejected the delivery as unauthorized and Alertmanager counted it failed",
            s.diagnostics,
        )
        assert s.prometheus.alert_state() == "firing"
        assert s.slack.roots(CHANNEL) == []
        assert s.slack.calls("chat.postMessage") == []
