"""deploy/ray/Dockerfile: the Ray cluster image carries the jobs runtime at the locked versions.

No Docker engine runs here, so the image is not built; what it is built from is checked: the Ray
image tag is the locked Ray on a Python the lock covers, the `uv export` it runs gives the jobs
group pinned, and its CPU-only branch drops exactly the CUDA stack and nothing torch needs.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "ray" / "Dockerfile").read_text()
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
sys.path.insert(0, str(ROOT / "scripts"))
from torch_gpu_stack import gpu_only  # noqa: E402


def locked(name: str) -> dict[str, object]:
    [package] = [p for p in LOCK["package"] if p["name"] == name]
    return package


def export_command() -> list[str]:
    match = re.search(r"RUN (uv export [^\n]*?)\s*\\\n\s*(--output-file)", DOCKERFILE)
    assert match, "the Dockerfile no longer runs uv export"
    return match.group(1).split()


def test_the_ray_image_is_the_locked_ray_on_a_covered_python() -> None:
    image = re.search(r"^ARG RAY_IMAGE=rayproject/ray:(\S+)$", DOCKERFILE, re.M)
    assert image, "no default RAY_IMAGE"
    version, python, _flavour = image.group(1).split("-")
    assert version == locked("ray")["version"]
    py = re.fullmatch(r"py3(\d+)", python)
    assert py, python
    assert f"3.{py.group(1)}.0" in SpecifierSet(LOCK["requires-python"])


def test_the_export_gives_the_jobs_group_pinned() -> None:
    result = subprocess.run(
        export_command(), cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = [ln for ln in result.stdout.splitlines() if ln and not ln.lstrip().startswith("#")]
    pins = dict(ln.split(" ;")[0].split("==") for ln in lines)
    assert pins["torch"] == locked("torch")["version"]
    assert pins["ray"] == locked("ray")["version"]
    assert {"pandas", "pyarrow"} <= set(pins)
    assert "opsbot" not in pins
    assert not [ln for ln in lines if "==" not in ln]  # no paths, no editables


def test_the_cpu_branch_drops_exactly_the_cuda_stack() -> None:
    pattern = re.search(r"grep -v -E '(\^\([^']+\))' /tmp/jobs.txt", DOCKERFILE)
    assert pattern, "the CPU-only branch no longer filters the requirements"
    dropped_by_image = {
        p["name"] for p in LOCK["package"] if re.match(pattern.group(1), p["name"])
    } - {"torch"}
    # What torch's CPU build needs: its dependencies that are not Linux-only in the lock.
    cpu_needs = [
        d["name"]
        for d in locked("torch")["dependencies"]  # type: ignore[attr-defined]
        if "sys_platform == 'linux'" not in d.get("marker", "")
    ]
    assert {"sympy", "networkx", "filelock"} <= set(cpu_needs)
    assert dropped_by_image == set(gpu_only(ROOT / "uv.lock", cpu_needs))


def test_compose_builds_its_ray_head_from_it_on_the_locked_ray() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    build = compose["services"]["ray-head"]["build"]
    assert build["dockerfile"] == "deploy/ray/Dockerfile"
    version = build["args"]["RAY_IMAGE"].split(":")[1].split("-")[0]
    assert version == locked("ray")["version"]
