"""The Dockerfile and .dockerignore, parsed as text (there is no Docker engine here)."""

from __future__ import annotations

import json
import re

import pytest

from tests.deploy.helpers import DOCKERFILE, DOCKERIGNORE, ROOT, dockerfile_instructions


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _image_problem(image: str) -> str | None:
    if "$" in image:
        return f"{image}: image comes from a build argument, pin it in the Dockerfile"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"{image}: no tag"
    tag = last.split(":", 1)[1]
    if tag == "latest" or not re.match(r"v?\d+(\.\d+)+", tag):
        return f"{image}: tag {tag!r} is not a version"
    if digest and not digest.startswith("sha256:"):
        return f"{image}: bad digest"
    return None


def dockerfile_problems(text: str) -> list[str]:
    problems: list[str] = []
    instructions = dockerfile_instructions(text)
    stages = _stages(instructions)
    if not stages:
        return ["no FROM"]
    aliases: set[str] = set()
    for stage in stages:
        words = stage[0][1].split()
        words = [w for w in words if not w.startswith("--platform")]
        image = words[0]
        if image not in aliases and (problem := _image_problem(image)):
            problems.append(f"FROM {problem}")
        if len(words) == 3 and words[1].upper() == "AS":
            aliases.add(words[2])
    for keyword, args in instructions:
        if keyword == "COPY":
            for word in args.split():
                if word.startswith("--from="):
                    source = word.split("=", 1)[1]
                    if source not in aliases and (problem := _image_problem(source)):
                        problems.append(f"COPY --from {problem}")

    final = stages[-1]
    keywords = [k for k, _ in final]
    if "CMD" not in keywords:
        problems.append("the final stage has no CMD")
    else:
        users = [args for k, args in final[: keywords.index("CMD")] if k == "USER"]
        if not users:
            problems.append("no USER before CMD: the container would run as root")
        elif users[-1].split(":")[0] in ("root", "0"):
            problems.append(f"USER {users[-1]} is root")
    runs = [args for k, args in instructions if k == "RUN"]
    syncs = [r for r in runs if "uv sync" in r]
    if not syncs:
        problems.append("no `uv sync`")
    for sync in syncs:
        if "--frozen" not in sync:
            problems.append(f"uv sync without --frozen: {sync}")
        if "--no-dev" not in sync:
            problems.append(f"uv sync without --no-dev: {sync}")
    return problems


def test_dockerfile_has_no_problems() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("FROM python:3.11.14-slim-bookworm AS builder", "FROM python:latest AS builder", "latest"),
        ("FROM python:3.11.14-slim-bookworm AS runtime", "FROM python AS runtime", "no tag"),
        ("FROM ghcr.io/astral-sh/uv:0.13.9 AS uv", "FROM ghcr.io/astral-sh/uv AS uv", "no tag"),
        ("USER 10001:10001", "USER root", "is root"),
        ("USER 10001:10001", "", "no USER before CMD"),
        ("uv sync --frozen --no-dev --no-editable", "uv sync --no-dev --no-editable", "--frozen"),
    ],
)
def test_dockerfile_checks_can_fail(old: str, new: str, problem: str) -> None:
    text = DOCKERFILE.read_text()
    assert old in text, f"fixture out of date: {old!r} no longer in the Dockerfile"
    problems = dockerfile_problems(text.replace(old, new, 1))
    assert any(problem in p for p in problems), problems


def test_dockerfile_details() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    stages = _stages(instructions)
    final = stages[-1]
    bases = [stage[0][1].split()[0] for stage in stages]
    python_bases = [b for b in bases if b.startswith("python:")]
    assert python_bases
    assert all(b.startswith("python:3.11.") for b in python_bases)
    assert len(set(python_bases)) == 1, "builder and runtime must share one Python image"
    assert any(b.startswith("ghcr.io/astral-sh/uv:") for b in bases)

    runs = [args for k, args in instructions if k == "RUN"]
    # Dependencies first (cached layer), then the project.
    [deps] = [i for i, r in enumerate(runs) if "--no-install-project" in r]
    [project] = [
        i for i, r in enumerate(runs) if "uv sync" in r and "--no-install-project" not in r
    ]
    assert deps < project
    copies = [args for k, args in instructions if k == "COPY"]
    first_code_copy = next(i for i, c in enumerate(copies) if c.startswith("bot "))
    copy_index = [i for i, (k, _) in enumerate(instructions) if k == "COPY"][first_code_copy]
    run_index = [i for i, (k, _) in enumerate(instructions) if k == "RUN"]
    assert run_index[deps] < copy_index < run_index[project]

    final_kw = dict(final)
    assert final_kw["EXPOSE"] == "8080"
    health = final_kw["HEALTHCHECK"]
    assert "/healthz" in health
    assert '"python"' in health
    assert "curl" not in health
    assert json.loads(final_kw["CMD"]) == ["opsbot", "serve", "--host", "0.0.0.0", "--port", "8080"]

    # Everything the Dockerfile copies from the context exists and is not .dockerignored.
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for args in copies:
        words = [w for w in args.split() if not w.startswith("--")]
        if any(w.startswith("--from") for w in args.split()):
            continue
        for source in words[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert source not in ignored, f"COPY {source}: excluded by .dockerignore"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set(DOCKERIGNORE.read_text().split())
    for entry in (".git", ".venv", ".env", "tests", "*.db"):
        assert entry in ignored, f"{entry} should be in .dockerignore"
    for needed in ("pyproject.toml", "uv.lock", "README.md", "bot", "playbooks"):
        assert needed not in ignored
