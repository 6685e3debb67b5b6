"""``Ops``: the execution path as the commands and listeners see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.runner.execute import Executor
    from bot.runner.graph import PlaybookRunner
    from bot.runner.playbook import Playbook


@dataclass
class Ops:
    """The execution path, where the process has one: the executor, the playbook runner and
    the loaded playbooks."""

    executor: Executor
    runner: PlaybookRunner | None = None
    playbooks: dict[str, Playbook] = field(default_factory=dict)
