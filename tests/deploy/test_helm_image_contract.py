"""The chart runs the image the way the image runs opsbot, and its probes mean what
``opsbot serve`` answers.

The Dockerfile (parsed: there is no Docker engine here) and the chart must agree on the command,
the port, the user and the working directory. Then the real ``opsbot serve`` is started with the
chart's command line, its plain environment and the catalog from its ConfigMap (the paths moved
into a temporary directory, the port to a free one), and the chart's probe paths are asked: the
startup and liveness probes and the readiness probe answer 200; on SIGTERM readiness turns 503
("draining") while liveness stays 200, and the process is gone within the grace period.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.helm_tools import ROOT, container, env_of, one, render_ci
from tests.deploy.helpers import dockerfile_instructions
from tests.support.server import free_port

DOCKERFILE = ROOT / "Dockerfile"


def final_stage() -> dict[str, str]:
    """The runtime stage's last value of each instruction."""
    stage: dict[str, str] = {}
    for keyword, args in dockerfile_instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            stage = {}
        stage[keyword] = args
    return stage


def test_the_chart_runs_the_images_command_port_user_and_workdir() -> None:
    image = final_stage()
    objects = render_ci("sqlite")
    opsbot = container(objects)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert opsbot["command"] == json.loads(image["CMD"])
    [port] = opsbot["ports"]
    assert str(port["containerPort"]) == image["EXPOSE"]
    uid, gid = (int(x) for x in image["USER"].split(":"))
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (uid, gid)
    assert opsbot["securityContext"]["runAsUser"] == uid
    mounts = {m["mountPath"] for m in opsbot["volumeMounts"]}
    assert image["WORKDIR"] in mounts  # the working directory is writable on a read-only root
    assert "/healthz" in image["HEALTHCHECK"]
    assert opsbot["livenessProbe"]["httpGet"]["path"] == "/healthz"


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    probes: dict[str, str]  # probe -> path
    grace_s: int
    log: Path


def chart_command(command: list[str], port: int) -> list[str]:
    """The chart's command with the console script from this environment, on 127.0.0.1:port."""
    argv = list(command)
    argv[0] = str(Path(sys.executable).parent / argv[0])
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    return argv


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    objects = render_ci("sqlite")
    opsbot = container(objects)
    config_map = next(o for o in objects if o["kind"] == "ConfigMap")
    moved = {"/var/lib/opsbot": tmp_path / "data", "/tmp": tmp_path / "tmp"}
    for path in moved.values():
        path.mkdir()
    catalog = tmp_path / "services.yaml"
    catalog.write_text(config_map["data"]["services.yaml"])

    pod_paths = re.compile("|".join(re.escape(p) for p in moved))

    def local(value: str) -> str:  # one pass: tmp_path itself lies under /tmp
        return pod_paths.sub(lambda m: str(moved[m.group(0)]), value)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_"))}
    env.update({name: local(e["value"]) for name, e in env_of(objects).items() if "value" in e})
    env["OPSBOT_SERVICES_FILE"] = str(catalog)
    env["OPSBOT_DRAIN_DELAY_S"] = "1.5"  # shorter than the chart's, to keep the test quick
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            chart_command(opsbot["command"], port),
            cwd=moved["/var/lib/opsbot"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    probes = {
        kind: opsbot[f"{kind}Probe"]["httpGet"]["path"]
        for kind in ("startup", "liveness", "readiness")
    }
    grace = one(objects, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    try:
        yield Served(proc, f"http://127.0.0.1:{port}", probes, grace, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"opsbot exited {proc.returncode}: {log.read_text()[-3000:]}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} not 200 within {timeout}s: {log.read_text()[-3000:]}")


def test_the_probes_answer_as_the_chart_expects_and_sigterm_drains(served: Served) -> None:
    assert served.probes == {"startup": "/healthz", "liveness": "/healthz", "readiness": "/readyz"}
    wait_for(served.url + served.probes["startup"], served.proc, served.log)
    for path in served.probes.values():
        r = httpx.get(served.url + path, timeout=3)
        assert r.status_code == 200, (path, r.text)
    assert httpx.get(served.url + "/readyz", timeout=3).json()["status"] == "ready"

    sent = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    readiness = httpx.get(served.url + served.probes["readiness"], timeout=3)
    assert (readiness.status_code, readiness.json()["status"]) == (503, "draining")
    assert httpx.get(served.url + served.probes["liveness"], timeout=3).status_code == 200
    served.proc.wait(served.grace_s)
    assert time.monotonic() - sent < served.grace_s
    # uvicorn re-raises the signal once it has shut down cleanly: -SIGTERM, or 0.
    assert served.proc.returncode in (0, -signal.SIGTERM), served.log.read_text()[-3000:]
    assert "Application shutdown complete" in served.log.read_text()
