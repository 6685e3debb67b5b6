"""End to end: a real Alertmanager with deploy/alertmanager/alertmanager.yml -> a real opsbot.

The token the compose file gives both sides is written where Alertmanager's config expects it;
the bot must take a delivery with it and refuse one once the file holds another token.
Alertmanager comes from the Debian package that scripts/test.sh installs.
"""

from __future__ import annotations

import posixpath
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.helpers import (
    ALERTMANAGER_YML,
    mount_target,
    opsbot_webhook,
    token_file_in_container,
    tool,
)
from tests.support.server import BotProcess, free_port


def _wait_http_ok(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} not ready in {timeout}s")


def _bot_counter(bot_url: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{bot_url}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_total" and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                total += sample.value
    return total


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.integration
def test_real_alertmanager_delivers_to_real_bot_with_the_compose_token(
    model: dict[str, Any], tmp_path: Path
) -> None:
    alertmanager_bin = tool("prometheus-alertmanager")
    token = model["services"]["opsbot"]["environment"]["OPSBOT_ALERTMANAGER_TOKEN"]
    read_from, _ = token_file_in_container(model)
    am_config_path = mount_target(model["services"]["alertmanager"], ALERTMANAGER_YML)

    # The committed config, with only the receiver's address and the timers changed. The token
    # file goes where the container has it, relative to the config file, and is left relative.
    am_dir = tmp_path / "alertmanager"
    token_file = am_dir / posixpath.relpath(read_from, posixpath.dirname(am_config_path))
    token_file.parent.mkdir(parents=True)
    token_file.write_text(token)
    config = yaml.safe_load(ALERTMANAGER_YML.read_text())
    webhook = opsbot_webhook(config)
    assert not Path(webhook["http_config"]["authorization"]["credentials_file"]).is_absolute()

    bot_env = {
        "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/opsbot.db",
        "OPSBOT_ALERTMANAGER_TOKEN": token,
    }
    with BotProcess(bot_env, log_path=tmp_path / "opsbot.log") as bot:
        bot_url = urlsplit(webhook["url"])._replace(netloc=f"127.0.0.1:{bot.port}").geturl()
        for receiver in config["receivers"]:
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = bot_url
        config["route"].update(group_wait="0s", group_interval="1s", repeat_interval="1h")
        (am_dir / "alertmanager.yml").write_text(yaml.safe_dump(config))

        am_port = free_port()
        am_url = f"http://127.0.0.1:{am_port}"
        with (tmp_path / "alertmanager.log").open("wb") as am_log:
            am = subprocess.Popen(
                [
                    alertmanager_bin,
                    "--config.file=alertmanager.yml",
                    f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    f"--web.external-url={am_url}",
                    "--cluster.listen-address=",
                ],
                cwd=am_dir,
                stdout=am_log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_http_ok(f"{am_url}/-/ready")

            def fire(alertname: str) -> None:
                alert = {
                    "labels": {
                        "alertname": alertname,
                        "service": "fraud-scorer",
                        "model": "xgb-v7",
                        "severity": "page",
                    },
                    "annotations": {"summary": "fraud-scorer: 10% of predictions fail"},
                }
                httpx.post(f"{am_url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()

            # The right token: the bot takes the delivery.
            fire("ModelServingHighErrorRate")
            _wait_for(
                lambda: _bot_counter(bot.url, "opsbot_alerts_received", source="alertmanager") >= 1,
                "the bot to receive the alert",
            )
            assert _bot_counter(bot.url, "opsbot_webhook_rejected") == 0

            # A different token in the file (read on every request): the bot refuses it.
            token_file.write_text(token + "-wrong")
            fire("ModelServingHighLatencyP95")
            _wait_for(
                lambda: (
                    _bot_counter(bot.url, "opsbot_webhook_rejected", source="alertmanager") >= 1
                ),
                "the bot to refuse a delivery with the wrong token",
            )
        except BaseException:
            print((tmp_path / "alertmanager.log").read_text(errors="replace")[-3000:])
            print(bot.logs()[-3000:])
            raise
        finally:
            am.terminate()
            try:
                am.wait(10)
            except subprocess.TimeoutExpired:
                am.kill()
                am.wait(10)
