"""What the sender asks of a kind of outbox message: render it (taking the rows that ride on
it), which Slack call sends it, where it was posted, what it leaves behind once posted, and what
else fails when Slack refuses it for good."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

from sqlmodel import Session

from bot.catalog.model import DEFAULT_SEVERITIES
from bot.outbox.rows import Prepared
from bot.store.models import Incident, OutboxMessage


class Call(StrEnum):
    """The Slack call that sends a message, which decides its pace and how a crash is settled."""

    POST = "post"  # chat.postMessage, tagged with its outbox ids: looked up after a crash
    UPDATE = "update"  # chat.update of an earlier message: idempotent, sent again
    UPLOAD = "upload"  # a file into a thread: cannot be looked up, sent again


@dataclass(frozen=True)
class Look:
    """What a message shows that is not in its rows: the choices the team's catalog gives (the
    severities on the root's select; the services PagerDuty pages, which get a Page button)."""

    severities: tuple[str, ...] = DEFAULT_SEVERITIES
    paged: frozenset[str] = frozenset()
    # The workspace's URL, where links to messages point (a storm message links each thread);
    # None: no links. Filled in by the sender when first needed.
    workspace_url: str | None = None


class Posted(Protocol):
    """What is known of a message that landed: the row, or the prepared message."""

    @property
    def channel(self) -> str: ...

    @property
    def incident_id(self) -> int | None: ...

    @property
    def job_run_id(self) -> int | None: ...

    @property
    def storm_id(self) -> int | None: ...


class MessageKind(ABC):
    """One kind of outbox message (an ``OutboxKind`` value), sent by ``call``. By default it is
    posted in the channel, leaves nothing to remember and takes nothing down with it."""

    kind: ClassVar[str]
    call: ClassVar[Call] = Call.POST

    @abstractmethod
    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        """Mark the row (and the rows riding on it) ``sending`` and render it as ``look`` says; None
        when it cannot go yet (what it waits for is not posted) or failed here."""

    def thread_of(self, session: Session, row: OutboxMessage) -> str | None:
        """The thread a posted row went to (where to look for it), None for the channel."""
        return None

    def note_posted(self, session: Session, posted: Posted, ts: str) -> None:
        """The message landed as ``ts``: remember what later messages edit or reply to."""
        return None

    def refused_for_good(self, session: Session, p: Prepared, detail: str) -> None:
        """Slack refused ``p`` for good: fail what cannot go without it."""
        return None


def incident_of(session: Session, row: OutboxMessage) -> Incident:
    """The incident a row belongs to. No row lock: intake never waits for the sender (a
    FOR UPDATE here queued every webhook that inserts rows pointing at this incident)."""
    incident = session.get(Incident, row.incident_id)
    assert incident is not None
    return incident


def thread_of_incident(session: Session, row: OutboxMessage) -> str | None:
    """The incident's thread, where its replies go (None: no incident, or it is gone)."""
    if row.incident_id is None:
        return None
    incident = session.get(Incident, row.incident_id)
    return incident.slack_ts if incident else None
