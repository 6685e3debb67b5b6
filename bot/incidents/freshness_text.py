"""What a data-freshness incident says, in words: its title, the thread's first reply (which job
last produced the dataset, when, what its runs did since, what it reads) and the line that ends
it. Names and error messages come from lineage producers: they are data, escaped, never markup.
"""

from __future__ import annotations

from datetime import datetime

from bot.incidents.freshness_watch import Watched
from bot.lineage.freshness import Producer, RunOutcome
from bot.summary.words import day_minute, human
from bot.text.mrkdwn import escape

MAX_ERROR = 200


def code(text: str) -> str:
    """``text`` as inline code that nothing in it can end or turn into markup."""
    return "`" + escape(text.replace("`", "'")) + "`"


def _cut(text: str, limit: int = MAX_ERROR) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def title(w: Watched, producer: Producer, since: datetime, now: datetime) -> str:
    """e.g. ``Dataset warehouse/features.transactions is stale: no successful run for 7h 03m
    (objective 6h)``; plain text."""
    key = f"{w.key[0]}/{w.key[1]}"
    objective = f"(objective {w.dataset.freshness})"
    if producer.last_success is None:
        age = human(now - since)
        return f"Dataset {key} is stale: no successful run in {age} of watching {objective}"
    age = human(now - producer.last_success.at)
    return f"Dataset {key} is stale: no successful run for {age} {objective}"


def _later_line(run: RunOutcome) -> str:
    if run.finished:
        line = (
            f"A later run of {code(run.job)} (run {code(run.run_id)}) ended *{run.state}* "
            f"at {day_minute(run.at)}"
        )
        if run.error:
            line += f": {escape(_cut(run.error))}"
        return line + " — likely why."
    return (
        f"A later run of {code(run.job)} (run {code(run.run_id)}) is still {run.state}, "
        f"last heard from at {day_minute(run.at)}."
    )


def _attempt_line(run: RunOutcome) -> str:
    line = f"Run {code(run.run_id)} of {code(run.job)}: {run.state} at {day_minute(run.at)}"
    if run.error:
        line += f": {escape(_cut(run.error))}"
    return line + "."


def opened_lines(w: Watched, producer: Producer, since: datetime, now: datetime) -> list[str]:
    """The first reply of the thread (mrkdwn), one fact a line."""
    key = f"{w.key[0]}/{w.key[1]}"
    head = f":hourglass: {code(key)} (catalog {code(w.name)}, owner {escape(w.owner)})"
    success = producer.last_success
    lines: list[str] = []
    if success is None:
        lines.append(
            f"{head} has had no successful run since opsbot began watching it at "
            f"{day_minute(since)} ({human(now - since)} ago); its freshness objective is "
            f"{escape(w.dataset.freshness or '')}."
        )
        if producer.later:
            lines.append("Runs that tried to write it:")
            lines += [f"• {_attempt_line(r)}" for r in producer.later]
        else:
            lines.append("No run has named it among its outputs yet.")
    else:
        lines.append(
            f"{head} has had no successful run for {human(now - success.at)}; its freshness "
            f"objective is {escape(w.dataset.freshness or '')}."
        )
        lines.append(
            f"Last produced by job {code(success.job)} (run {code(success.run_id)}), which "
            f"ended *{success.state}* at {day_minute(success.at)}."
        )
        if producer.later:
            lines += [_later_line(r) for r in producer.later]
        else:
            lines.append(f"No later run of {code(success.job)} has been seen.")
    if producer.upstream:
        parts = []
        for up in producer.upstream:
            when = (
                f"last success {day_minute(up.last_success)}"
                if up.last_success is not None
                else "no successful run seen"
            )
            parts.append(f"{code(up.key)} ({when})")
        lines.append("Upstream (what its producer reads): " + ", ".join(parts) + ".")
    else:
        lines.append("Upstream: none known from lineage.")
    return lines


def resolved_line(dataset: str, success: RunOutcome | None) -> str:
    """The thread's line when the dataset is fresh again."""
    if success is None:
        return f":white_check_mark: {code(dataset)} is within its freshness objective again."
    return (
        f":white_check_mark: {code(dataset)} is fresh again: run {code(success.run_id)} of "
        f"{code(success.job)} ended *COMPLETE* at {day_minute(success.at)}."
    )
