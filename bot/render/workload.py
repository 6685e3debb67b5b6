"""The enrichment reply's pods part: one summary line, then the details in sections Slack shows
collapsed ("see more": ``expand: false``).

    *Pods:* 2 restarts (OOMKilled x2, last 3 min ago) · 1 Pending: 0/3 nodes… · 3 Warning events
    [collapsed] what is wrong with each pod, the Warning events, merged, newest first
    [collapsed] the crashed container's previous log, in a code block

Everything here came from the cluster (messages, the log): data, never markup. It goes through
``safe_mrkdwn`` (no mention, link or broadcast survives) and a log line cannot close its code
block; the log was redacted when it was read (bot/enrich/workload.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.enrich.types import SourceResult
from bot.enrich.workload import TIMES, WorkloadReport, report_of
from bot.render.blocks import SECTION_TEXT_LIMIT, chunk_lines, clip, mrkdwn_section
from bot.text.slack_safe import ZWSP, safe_mrkdwn

MAX_FINDINGS_SHOWN = 8
FENCE = "```"


def workload_blocks(result: SourceResult | None) -> list[SectionBlock]:
    """The pods part of the reply; nothing when the source did not answer (the reply lists it
    among the unavailable ones)."""
    report = report_of(result.data) if result is not None and result.status == "ok" else None
    if report is None:
        return []
    blocks = [mrkdwn_section(f"*Pods:* {safe_mrkdwn(report.summary().removeprefix('Pods: '))}")]
    details = _details(report)
    blocks += [_collapsed(text) for text in chunk_lines(details, SECTION_TEXT_LIMIT)[:2]]
    if report.log is not None and report.log.lines:
        blocks.append(_collapsed(_log(report)))
    return blocks


def _collapsed(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT_LIMIT)), expand=False)


def _hhmm(at: datetime) -> str:
    return f"{at:%H:%M}"


def _details(report: WorkloadReport) -> list[str]:
    lines = []
    shown = report.findings[:MAX_FINDINGS_SHOWN]
    for f in shown:
        where = f"{f.pod}/{f.container}" if f.container else f.pod
        count = f" {TIMES}{f.count}" if f.count > 1 else ""
        restarts = f", {f.restarts} restarts" if f.restarts else ""
        lines.append(
            f"• {_hhmm(f.at)} *{f.kind}*{count} {safe_mrkdwn(where, limit=200)} — "
            f"{safe_mrkdwn(f.detail, limit=400)}{restarts}"
        )
    if len(report.findings) > len(shown):
        lines.append(f"…and {len(report.findings) - len(shown)} more")
    if report.events:
        lines.append("*Warning events*, newest first")
        for e in report.events:
            lines.append(
                f"• {_hhmm(e.last)} {TIMES}{e.count} {e.kind} {safe_mrkdwn(e.name, limit=200)} "
                f"*{safe_mrkdwn(e.reason, limit=100)}*: {safe_mrkdwn(e.message, limit=400)}"
            )
        if report.event_lines > len(report.events):
            lines.append(f"…and {report.event_lines - len(report.events)} more")
    for note in report.notes:
        lines.append(f"_Not read: {safe_mrkdwn(note, limit=300)}_")
    return lines


def _log(report: WorkloadReport) -> str:
    log = report.log
    assert log is not None
    where = safe_mrkdwn(f"{log.pod}/{log.container}", limit=200)
    cut = ", earlier lines left out" if log.cut else ""
    head = f"*Previous log of {where}* _(last {len(log.lines)} lines{cut}; secrets redacted)_"
    budget = SECTION_TEXT_LIMIT - len(head) - 2 * len(FENCE) - 3
    return f"{head}\n{FENCE}\n{_code(log.lines, budget)}\n{FENCE}"


def _code(lines: Sequence[str], budget: int) -> str:
    """The last of ``lines`` that fit in ``budget`` characters once made inert: escaped, no
    mention, and no backtick run that could close the code block."""
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        safe = safe_mrkdwn(line, limit=budget).replace(FENCE, f"`{ZWSP}`{ZWSP}`") or " "
        if used + len(safe) + 1 > budget:
            break
        kept.append(safe)
        used += len(safe) + 1
    return "\n".join(reversed(kept)) or " "
