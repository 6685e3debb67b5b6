"""uv.lock installs anywhere ``requires-python`` says, not only on the machine that wrote it.

Read offline from the lock itself: no package comes from a path on some machine's disk, and for
every Python the project claims (3.11 to 3.13) on Linux x86-64, Linux aarch64 and macOS arm64,
every package the bot, its tests and the jobs runtime install has a wheel for that interpreter
and platform (or a source distribution to build). scripts/sync.sh swapping torch for a CPU wheel
found on disk is a choice made at install time; the lock never depends on it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PYTHONS = ("3.11", "3.12", "3.13")


@dataclass(frozen=True)
class Target:
    name: str
    sys_platform: str
    machine: str
    platforms: tuple[str, ...]

    def environment(self, python: str) -> dict[str, str]:
        return {
            "python_version": python,
            "python_full_version": f"{python}.0",
            "sys_platform": self.sys_platform,
            "platform_machine": self.machine,
            "platform_system": "Linux" if self.sys_platform == "linux" else "Darwin",
            "os_name": "posix",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "extra": "",
        }

    def tags(self, python: str) -> set[Tag]:
        version = tuple(int(p) for p in python.split("."))
        return set(cpython_tags(version, platforms=self.platforms)) | set(
            compatible_tags(version, f"cp{version[0]}{version[1]}", self.platforms)
        )


def _manylinux(arch: str) -> tuple[str, ...]:
    modern = [f"manylinux_2_{minor}_{arch}" for minor in range(28, 4, -1)]
    return (*modern, f"manylinux2014_{arch}", f"linux_{arch}")


TARGETS = (
    Target("linux-x86_64", "linux", "x86_64", _manylinux("x86_64")),
    Target("linux-aarch64", "linux", "aarch64", _manylinux("aarch64")),
    Target("macos-arm64", "darwin", "arm64", tuple(mac_platforms((14, 0), "arm64"))),
)


def packages() -> dict[str, list[dict[str, Any]]]:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in LOCK["package"]:
        by_name.setdefault(package["name"], []).append(package)
    return by_name


def installed_set(target: Target, python: str) -> list[dict[str, Any]]:
    """The locked packages that `uv sync --group jobs` (dev included) installs there."""
    env = target.environment(python)
    by_name = packages()
    [project] = by_name[PROJECT["name"]]
    wanted: list[tuple[dict[str, Any], list[str]]] = []
    for dep in project.get("dependencies", []):
        wanted.append((dep, dep.get("extra", [])))
    for group in ("dev", "jobs"):
        for dep in project["dev-dependencies"][group]:
            wanted.append((dep, dep.get("extra", [])))
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    while wanted:
        dep, extras = wanted.pop()
        if "marker" in dep and not Marker(dep["marker"]).evaluate(env):
            continue
        candidates = [
            p for p in by_name[dep["name"]] if p["version"] == dep.get("version", p["version"])
        ]
        assert len(candidates) == 1, f"{dep} is ambiguous in the lock"
        [package] = candidates
        key = (package["name"], package["version"])
        first = key not in seen
        seen[key] = package
        if first:
            wanted.extend((d, d.get("extra", [])) for d in package.get("dependencies", []))
        for extra in extras:
            optional = package.get("optional-dependencies", {}).get(extra, [])
            wanted.extend((d, d.get("extra", [])) for d in optional)
    return list(seen.values())


def installable(package: dict[str, Any], tags: set[Tag]) -> bool:
    for wheel in package.get("wheels", []):
        filename = (wheel.get("url") or wheel.get("path") or wheel["filename"]).rsplit("/", 1)[-1]
        if tags & set(parse_wheel_filename(filename)[3]):
            return True
    return "sdist" in package


def test_requires_python_is_the_range_that_is_checked() -> None:
    claimed = SpecifierSet(PROJECT["requires-python"])
    assert all(f"{p}.0" in claimed for p in PYTHONS)
    assert "3.10.0" not in claimed
    assert "3.14.0" not in claimed  # not checked here, so not claimed
    assert SpecifierSet(LOCK["requires-python"]) == claimed


def test_no_package_comes_from_a_path_on_one_machine() -> None:
    local = []
    for package in LOCK["package"]:
        source = package["source"]
        if source.get("editable") == "." or source.get("virtual") == ".":
            continue  # the project itself
        origin = source.get("registry") or source.get("url") or source.get("git") or ""
        if not origin.startswith("https://") or {"path", "directory", "editable"} & set(source):
            local.append(f"{package['name']} {package['version']}: {source}")
    assert local == []


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_every_locked_package_installs_there(target: Target, python: str) -> None:
    installed = installed_set(target, python)
    names = {p["name"] for p in installed}
    assert {"ray", "torch", "slack-bolt", "langgraph", "pytest", "pandas"} <= names
    tags = target.tags(python)
    missing = [f"{p['name']} {p['version']}" for p in installed if not installable(p, tags)]
    assert missing == [], f"no wheel or sdist for Python {python} on {target.name}"
