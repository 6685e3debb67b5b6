"""The registry of executable actions that playbooks, buttons and commands call.

Each action module registers its class with ``@register``; ``actions/__init__.py`` imports them
all, so importing ``actions`` fills the registry. A playbook step naming an action that is not
registered is invalid.
"""

from __future__ import annotations

from typing import Any, TypeVar

from actions.base import Action

A = TypeVar("A", bound=type[Action[Any]])

REGISTRY: dict[str, Action[Any]] = {}


def register(cls: A) -> A:
    name = cls.name
    if name in REGISTRY:
        raise ValueError(f"action {name!r} registered twice")
    REGISTRY[name] = cls()
    return cls


def get(name: str) -> Action[Any] | None:
    _load()
    return REGISTRY.get(name)


def known_actions() -> set[str]:
    _load()
    return set(REGISTRY)


def _load() -> None:
    import actions  # noqa: F401  (importing the package registers every built-in action)
