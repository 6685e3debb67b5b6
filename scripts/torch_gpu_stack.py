"""Print the locked packages that only the CUDA build of torch needs, one per line.

uv.lock takes torch from PyPI, whose Linux build is the CUDA one (what GPU workers need). On a
CPU-only machine that keeps a CPU wheel of the same torch on disk, scripts/sync.sh installs the
locked jobs group without torch and without these packages, then that wheel in torch's place.

"These packages" are the ones torch pulls in that nothing else in the lock pulls in, less the
ones the CPU wheel itself requires (read from the wheel's own metadata):

    python3 scripts/torch_gpu_stack.py uv.lock /opt/wheels/torch-2.13.0+cpu-...whl
"""

from __future__ import annotations

import re
import sys
import tomllib
import zipfile
from collections.abc import Iterable
from pathlib import Path


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_graph(lock: dict[str, object]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in lock["package"]:  # type: ignore[attr-defined]
        deps = graph.setdefault(norm(package["name"]), set())
        for dep in package.get("dependencies", []):
            deps.add(norm(dep["name"]))
        for extra_deps in package.get("optional-dependencies", {}).values():
            deps.update(norm(d["name"]) for d in extra_deps)
        for group_deps in package.get("dev-dependencies", {}).values():
            deps.update(norm(d["name"]) for d in group_deps)
    return graph


def closure(graph: dict[str, set[str]], roots: Iterable[str], *, skip: str = "") -> set[str]:
    seen: set[str] = set()
    stack = [r for r in roots if r != skip]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(d for d in graph.get(name, ()) if d != skip)
    return seen


def wheel_requirements(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        [meta] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        text = zf.read(meta).decode()
    names = set()
    for line in text.splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            names.add(norm(re.split(r"[\s;<>=!~\[(]", line.split(":", 1)[1].strip())[0]))
    return names


def gpu_only(lock_path: Path, cpu_requirements: Iterable[str]) -> list[str]:
    """What only torch pulls in, less what a CPU build that requires ``cpu_requirements``
    needs."""
    lock = tomllib.loads(lock_path.read_text())
    graph = dependency_graph(lock)
    everything = set(graph)
    without_torch = closure(graph, everything - closure(graph, ["torch"]), skip="torch")
    torch_only = closure(graph, ["torch"]) - without_torch - {"torch"}
    kept = closure(graph, cpu_requirements)
    return sorted(torch_only - kept)


if __name__ == "__main__":
    print("\n".join(gpu_only(Path(sys.argv[1]), wheel_requirements(Path(sys.argv[2])))))
