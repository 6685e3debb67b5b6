"""Each kind of outbox message (an incident's root, replies, files, a job's messages, the
summary, a notice, an alert storm's message), one unit behind one interface
(``base.MessageKind``): how it is rendered and taken, which Slack call sends it, where it was
posted, what it records once posted and what fails with it. ``KINDS`` maps every
``OutboxKind`` value to its unit."""

from __future__ import annotations

from bot.outbox.kinds.base import MessageKind
from bot.outbox.kinds.file import File
from bot.outbox.kinds.job import JobDone, JobPost, JobUpdate
from bot.outbox.kinds.notice import Notice
from bot.outbox.kinds.reply import Reply
from bot.outbox.kinds.root import RootPost, RootUpdate
from bot.outbox.kinds.storm import StormPost, StormUpdate
from bot.outbox.kinds.summary import SummaryPost, SummaryUpdate

KINDS: dict[str, MessageKind] = {
    unit.kind: unit
    for unit in (
        RootPost(),
        RootUpdate(),
        Reply(),
        File(),
        JobPost(),
        JobUpdate(),
        JobDone(),
        SummaryPost(),
        SummaryUpdate(),
        Notice(),
        StormPost(),
        StormUpdate(),
    )
}
