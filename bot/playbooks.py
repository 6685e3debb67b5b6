"""``opsbot playbooks validate``: every file in the playbooks directory, ``file:line`` errors.

The model, loading and templating live in ``bot/runner/playbook.py``.
"""

from __future__ import annotations

from pathlib import Path

from bot.runner.playbook import load_dir


def validate_dir(directory: Path) -> tuple[list[str], int]:
    files = (
        sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]) if directory.is_dir() else []
    )
    _, problems = load_dir(directory)
    return problems, len(files)
