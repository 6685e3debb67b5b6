"""Loading and checking playbook files (``playbooks/*.yaml``, ``apiVersion: opsbot/v1``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from actions.registry import known_actions

API_VERSION = "opsbot/v1"
REQUIRED = ("apiVersion", "name", "description", "owner", "steps")


def _line(node: Any) -> int:
    mark = getattr(node, "start_mark", None)
    return (mark.line + 1) if mark is not None else 1


def validate_file(path: Path) -> list[str]:
    """Problems in one file, each as ``file:line: message``; empty when valid."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return [f"{path}:{line}: invalid YAML: {exc}"]
    if not isinstance(doc, dict):
        return [f"{path}:1: a playbook is a mapping with {', '.join(REQUIRED)}"]
    lines = {k.value: _line(v) for k, v in node.value} if node is not None else {}
    problems = [f"{path}:1: missing `{key}`" for key in REQUIRED if key not in doc]
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        problems.append(f"{path}:{lines.get('apiVersion', 1)}: apiVersion must be {API_VERSION}")
    steps = doc.get("steps") or []
    if not isinstance(steps, list):
        return [*problems, f"{path}:{lines.get('steps', 1)}: `steps` must be a list"]
    actions = known_actions()
    step_nodes: list[Any] = (
        next((v.value for k, v in node.value if k.value == "steps"), []) if node else []
    )
    for i, step in enumerate(steps):
        line = _line(step_nodes[i]) if i < len(step_nodes) else 1
        action = step.get("action") if isinstance(step, dict) else None
        if not action:
            problems.append(f"{path}:{line}: step {i + 1} names no `action`")
        elif action not in actions:
            problems.append(f"{path}:{line}: step {i + 1}: unknown action `{action}`")
    return problems


def validate_dir(directory: Path) -> tuple[list[str], int]:
    files = (
        sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]) if directory.is_dir() else []
    )
    problems: list[str] = []
    for path in files:
        problems += validate_file(path)
    return problems, len(files)
