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
from bot.store.migrate import upgrade
from tests.support.payloads import am_alert, am_payload
from tests.support.server import ROOT
from tests.support.store import ingest


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


UNREACHABLE = "postgresql://opsbot:s3cret@127.0.0.1:1/opsbot"  # nothing listens on port 1


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed with one line on stderr (log lines aside) and no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("opsbot: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_version_is_printed() -> None:
    result = opsbot("--version")
    assert result.returncode == 0
    assert result.stdout.strip().startswith("opsbot 0.")


def test_serve_waits_for_the_database_with_one_line_per_try_then_stops_in_one_line() -> None:
    result = opsbot("serve", env={"OPSBOT_DATABASE_URL": UNREACHABLE, "OPSBOT_DB_WAIT_S": "2.5"})
    assert result.returncode == 2
    line = one_line_error(result)
    assert line.startswith("opsbot: cannot reach the database at postgresql://opsbot:***@")
    tries = [line for line in result.stderr.splitlines() if "not reachable (try" in line]
    assert len(tries) >= 2, result.stderr
    assert "s3cret" not in result.stdout + result.stderr


def test_a_command_on_an_unreachable_database_says_so_in_one_line() -> None:
    result = opsbot("incidents", "export", "1", env={"OPSBOT_DATABASE_URL": UNREACHABLE})
    assert result.returncode == 1
    assert "database error" in one_line_error(result)
    assert "s3cret" not in result.stdout + result.stderr


def test_an_unknown_revision_is_one_line(tmp_path: Path) -> None:
    result = opsbot(
        "db", "upgrade", "nosuch", env={"OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    )
    assert "nosuch" in one_line_error(result)


def test_upgrading_to_an_older_revision_says_nothing_changed(tmp_path: Path) -> None:
    env = {"OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    assert opsbot("db", "upgrade", "0003", env=env).stdout.strip() == "database at 0003"
    head = opsbot("db", "upgrade", env=env)
    assert head.stdout.strip().endswith("(was 0003)")
    back = opsbot("db", "upgrade", "0003", env=env)
    assert back.returncode == 1
    assert "nothing changed" in one_line_error(back)
    assert "past 0003" in back.stderr


def test_export_to_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    upgrade(url)
    engine = make_engine(url)
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    engine.dispose()
    missing = tmp_path / "no" / "such" / "dir" / "summary.md"
    result = opsbot(
        "incidents", "export", "1", "--out", str(missing), env={"OPSBOT_DATABASE_URL": url}
    )
    assert result.returncode == 1
    assert one_line_error(result) == f"opsbot: cannot write {missing}: No such file or directory"


def test_validating_a_missing_playbook_directory_fails(tmp_path: Path) -> None:
    result = opsbot("playbooks", "validate", str(tmp_path / "nowhere"))
    assert "no playbook directory" in one_line_error(result)


def test_serve_refuses_a_named_catalog_or_playbook_directory_that_is_not_there(
    tmp_path: Path,
) -> None:
    env = {"OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    missing = tmp_path / "services.yaml"
    result = opsbot("serve", env={**env, "OPSBOT_SERVICES_FILE": str(missing)})
    assert result.returncode == 2
    assert one_line_error(result) == f"opsbot: OPSBOT_SERVICES_FILE names {missing}: no such file"
    nowhere = tmp_path / "playbooks"
    result = opsbot("serve", env={**env, "OPSBOT_PLAYBOOKS_DIR": str(nowhere)})
    assert result.returncode == 2
    assert "no such directory" in one_line_error(result)


def test_serve_refuses_a_playbook_that_does_not_validate(tmp_path: Path) -> None:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "broken.yaml").write_text("apiVersion: opsbot/v1\nname: broken\n")
    env = {
        "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "OPSBOT_PLAYBOOKS_DIR": str(tmp_path / "playbooks"),
    }
    result = opsbot("serve", env=env)
    assert result.returncode == 2
    line = one_line_error(result)
    assert line.startswith("opsbot: a playbook does not validate: ")
    assert "broken.yaml" in line
