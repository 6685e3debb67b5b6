"""The opsbot command: db upgrade, playbooks validate, configuration errors, the console's
identity."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from bot.store.engine import make_engine
from tests.support.server import ROOT


def opsbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **(env or {})},
        timeout=60,
        check=False,
    )


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new.db"
    result = opsbot("db", "upgrade", env={"OPSBOT_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    engine = make_engine(url)
    assert "incident" in inspect(engine).get_table_names()
    engine.dispose()


def test_playbooks_validate_passes_the_shipped_directory() -> None:
    result = opsbot("playbooks", "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 problem(s)" in result.stdout


def test_playbooks_validate_fails_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(
        "apiVersion: opsbot/v1\nname: broken\ndescription: d\nowner: sre\n"
        "steps:\n  - name: one\n    action: reboot_everything\n"
        "  - name: two\n    action: post_message\n    params: {txt: hi}\n"
    )
    (tmp_path / "incomplete.yaml").write_text(
        "apiVersion: opsbot/v1\nname: incomplete\ndescription: d\nowner: sre\n"
        "steps:\n  - name: one\n    params: {}\n"
    )
    (tmp_path / "bad-yaml.yaml").write_text("name: [unclosed\n")
    result = opsbot("playbooks", "validate", str(tmp_path))
    assert result.returncode == 1
    err = result.stderr
    assert f"{tmp_path}/broken.yaml:7: step one: unknown action `reboot_everything`" in err
    assert f"{tmp_path}/broken.yaml:10: step two: post_message has no param `txt`" in err
    assert f"{tmp_path}/broken.yaml:9: step two: post_message needs `text`" in err
    assert f"{tmp_path}/incomplete.yaml:6: steps.0.action: Field required" in err
    assert f"{tmp_path}/bad-yaml.yaml:2: invalid YAML" in err
    assert "3 playbook(s) checked" in result.stdout


def test_slack_http_mode_without_signing_secret_is_refused_at_start(tmp_path: Path) -> None:
    result = opsbot(
        "serve",
        "--port",
        "1",
        env={
            "SLACK_BOT_TOKEN": "xoxb-1",
            "OPSBOT_INCIDENT_CHANNEL": "C1",
            "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        },
    )
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET" in result.stderr


def test_invalid_setting_value_is_reported(tmp_path: Path) -> None:
    result = opsbot("db", "upgrade", env={"OPSBOT_SLACK_CHANNEL_RATE": "fast"})
    assert result.returncode == 2
    assert "OPSBOT_SLACK_CHANNEL_RATE" in result.stderr


def console_as(claimed: str | None, tmp_path: Path, typed: str) -> subprocess.CompletedProcess[str]:
    """`opsbot console [--as …]` under a catalog that maps this OS user to U0ALICE only."""
    me = pwd.getpwuid(os.getuid()).pw_name
    (tmp_path / "services.yaml").write_text(f"policy:\n  console_users: {{{me}: U0ALICE}}\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_"))}
    env = {
        **clean,
        "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/console.db",
        "OPSBOT_SERVICES_FILE": str(tmp_path / "services.yaml"),
        "USER": "U0BOB",  # the environment names no one: only the real uid counts
        "LOGNAME": "bob",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "console", *(["--as", claimed] if claimed else [])],
        input=typed,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_console_as_someone_the_policy_does_not_map_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    result = console_as("U0BOB", tmp_path, "incidents\n")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"opsbot: --as U0BOB refused: OS user {me} may act only as whom policy.console_users "
        f"allows (it maps {me} to U0ALICE); add U0BOB there to allow it"
    ]


def test_console_acts_as_the_slack_user_the_os_user_maps_to(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    for claimed in (None, "U0ALICE"):
        result = console_as(claimed, tmp_path, "incidents\n")
        assert result.returncode == 0, result.stderr
        assert f"Acting as U0ALICE (OS user {me}, policy.console_users)." in result.stdout
        assert "No open incidents." in result.stdout
