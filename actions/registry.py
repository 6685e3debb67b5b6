"""The registry of executable actions that playbooks, buttons and commands call.

Empty for now: actions (rollback, scale, rerun, Ray jobs...) register here with
``@register("verb_noun")``. A playbook step naming an action that is not registered is invalid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

REGISTRY: dict[str, Callable[..., Any]] = {}


def register(name: str) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        if name in REGISTRY:
            raise ValueError(f"action {name!r} registered twice")
        REGISTRY[name] = fn
        return fn

    return decorate


def known_actions() -> set[str]:
    return set(REGISTRY)
