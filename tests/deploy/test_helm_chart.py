"""The Helm chart, rendered by the real ``helm``: lint, the values sets CI renders (PostgreSQL,
SQLite, Socket Mode, HTTP with everything on), and the schema refusing typos and secrets."""

from __future__ import annotations

import math

import pytest

from tests.deploy.helm_tools import (
    CHART,
    ROOT,
    container,
    env_of,
    helm,
    of_kind,
    one,
    render,
    render_ci,
    template_args,
)

VALUES_SETS = ["postgresql", "sqlite", "socket-mode", "http-full"]


def test_helm_lint_passes_strict_on_every_values_set() -> None:
    for name in VALUES_SETS:
        out = helm(
            "lint", "--strict", str(CHART), "--values", str(CHART / "ci" / f"{name}-values.yaml")
        )
        assert "0 chart(s) failed" in out.stdout


def test_defaults_run_two_replicas_on_postgresql_with_a_disruption_budget() -> None:
    objects = render_ci("postgresql")
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    url = env_of(objects)["OPSBOT_DATABASE_URL"]
    assert url["valueFrom"]["secretKeyRef"] == {"name": "opsbot", "key": "OPSBOT_DATABASE_URL"}
    assert of_kind(objects, "Ingress") == []


def test_sqlite_runs_one_replica_recreated_on_its_volume_without_a_budget() -> None:
    objects = render_ci("sqlite")
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert of_kind(objects, "PodDisruptionBudget") == []
    assert env_of(objects)["OPSBOT_DATABASE_URL"] == {
        "name": "OPSBOT_DATABASE_URL",
        "value": "sqlite:////var/lib/opsbot/opsbot.db",
    }
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "opsbot-data"}
    mounts = {m["name"]: m["mountPath"] for m in container(objects)["volumeMounts"]}
    assert mounts["data"] == "/var/lib/opsbot"


def test_socket_mode_needs_no_ingress_and_no_signing_secret() -> None:
    objects = render_ci("socket-mode")
    env = env_of(objects)
    assert env["SLACK_APP_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "opsbot-slack",
        "key": "slack-app-token",
    }
    assert "SLACK_SIGNING_SECRET" not in env
    assert of_kind(objects, "Ingress") == []
    assert env["OPSBOT_INCIDENT_CHANNEL"]["value"] == "C0INCIDENTS"


def test_http_mode_exposes_only_slack_the_webhooks_and_the_api() -> None:
    ingress = one(render_ci("http-full"), "Ingress")
    [rule] = ingress["spec"]["rules"]
    paths = [p["path"] for p in rule["http"]["paths"]]
    assert paths == ["/slack/", "/webhooks/", "/api/"]  # not /metrics, not the probes


@pytest.mark.parametrize("name", VALUES_SETS)
def test_the_pod_runs_locked_down(name: str) -> None:
    objects = render_ci(name)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container(objects)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsNonRoot"] is True
    resources = container(objects)["resources"]
    assert resources["requests"]["cpu"]
    assert resources["requests"]["memory"]
    assert resources["limits"]["memory"]
    # Writable places on a read-only root: the working directory and /tmp (matplotlib's cache).
    mounts = {m["mountPath"]: m for m in container(objects)["volumeMounts"]}
    assert not mounts["/var/lib/opsbot"].get("readOnly")
    assert not mounts["/tmp"].get("readOnly")
    env = env_of(objects)
    assert env["MPLCONFIGDIR"]["value"].startswith("/tmp/")
    assert env["HOME"]["value"] == "/var/lib/opsbot"


@pytest.mark.parametrize("name", VALUES_SETS)
def test_the_grace_period_covers_the_drain_and_the_shutdown(name: str) -> None:
    objects = render_ci(name)
    env = env_of(objects)
    drain = float(env["OPSBOT_DRAIN_DELAY_S"]["value"])
    shutdown = float(env["OPSBOT_SHUTDOWN_TIMEOUT_S"]["value"])
    grace = one(objects, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= math.ceil(drain + shutdown) + 1


def test_the_startup_probe_waits_longer_than_the_database_wait() -> None:
    objects = render_ci("postgresql")
    startup = container(objects)["startupProbe"]
    waits = float(env_of(objects)["OPSBOT_DB_WAIT_S"]["value"])
    assert startup["periodSeconds"] * startup["failureThreshold"] > waits


def test_playbooks_from_values_are_mounted_and_pointed_at() -> None:
    playbook = r"playbooks.scale-up-serving\.yaml=playbooks/scale-up-serving.yaml"
    objects = render(extra=["--set-file", playbook])
    assert env_of(objects)["OPSBOT_PLAYBOOKS_DIR"]["value"] == "/etc/opsbot/playbooks"
    maps = {c["metadata"]["name"]: c for c in of_kind(objects, "ConfigMap")}
    shipped = (ROOT / "playbooks" / "scale-up-serving.yaml").read_text()
    assert maps["opsbot-playbooks"]["data"]["scale-up-serving.yaml"] == shipped
    mounts = {m["name"]: m["mountPath"] for m in container(objects)["volumeMounts"]}
    assert mounts["playbooks"] == "/etc/opsbot/playbooks"


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("replicaCont=3", "'replicaCont'"),
        ("database.knd=sqlite", "'knd'"),
        ("probes.liveness.periodSecond=5", "'periodSecond'"),
        ("env.OPSBOT_LOG_LEVLE=DEBUG", "'OPSBOT_LOG_LEVLE'"),
        ("existingSecret.keys.SLACK_BOT_TOKN=x", "'SLACK_BOT_TOKN'"),
    ],
)
def test_a_typo_in_values_fails_with_the_field_named(setting: str, named: str) -> None:
    result = helm(*template_args(sets=[setting]), check=False)
    assert result.returncode != 0
    assert named in result.stderr
    assert "additional properties" in result.stderr


@pytest.mark.parametrize(
    ("setting", "where"),
    [
        ("slackBotToken=xoxb-1-2-abc", "'slackBotToken'"),  # no field takes a secret value
        ("env.SLACK_BOT_TOKEN=xoxb-1-2-abc", "'SLACK_BOT_TOKEN'"),  # nor env
        (
            "existingSecret.keys.SLACK_BOT_TOKEN=xoxb-1-2-abc",
            "/existingSecret/keys/SLACK_BOT_TOKEN",
        ),
        ("existingSecret.keys.OPENAI_API_KEY=sk-proj-abc", "/existingSecret/keys/OPENAI_API_KEY"),
        (
            "existingSecret.keys.OPSBOT_DATABASE_URL=postgresql://u:p@db/opsbot",
            "/existingSecret/keys/OPSBOT_DATABASE_URL",
        ),
    ],
)
def test_plain_secret_values_are_refused(setting: str, where: str) -> None:
    result = helm(*template_args(sets=[setting]), check=False)
    assert result.returncode != 0
    assert where in result.stderr


def test_sqlite_with_two_replicas_or_a_database_url_key_is_refused() -> None:
    base = ["database.kind=sqlite", "existingSecret.keys.OPSBOT_DATABASE_URL="]
    assert helm(*template_args(sets=base), check=False).returncode == 0
    two = helm(*template_args(sets=[*base, "replicaCount=2"]), check=False)
    assert two.returncode != 0
    assert "/replicaCount" in two.stderr
    with_url = helm(*template_args(sets=["database.kind=sqlite"]), check=False)
    assert with_url.returncode != 0
    assert "/existingSecret/keys/OPSBOT_DATABASE_URL" in with_url.stderr


def test_postgresql_needs_the_database_url_key() -> None:
    result = helm(*template_args(sets=["existingSecret.keys.OPSBOT_DATABASE_URL="]), check=False)
    assert result.returncode != 0
    assert "/existingSecret/keys/OPSBOT_DATABASE_URL" in result.stderr
