"""The App Home tab (a ``home`` view) and the same sections as text for ``/ops home``.

    Your open incidents        state, severity, service, lead or acted on, a link to the thread
    Approvals waiting for you  the plan's summary, Approve / Reject (the approval message's own
                               action ids and opaque token: the same listeners decide them)
    Your running jobs          each with the job message's Stop (its action id and job number)
    Latest summaries           the five newest, with a link to the summary in its thread
    On call for your services  as the oncall enrichment last read PagerDuty

Within Slack's limits: each list is capped and ends "…and N more" (at most 92 blocks of the 100
a home may hold, and far under its 250 kB), every text clipped, every outside text escaped.
Times are Slack date tokens, which each client shows in its own time zone: nothing here changes
as the clock runs, so the same facts always give the same view (``Homes`` republishes only when
that changes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.blocks import Block as SlackBlock
from slack_sdk.models.views import View

from bot.home.facts import HomeFacts, MyIncident, ServiceOnCall, WaitingApproval
from bot.render.approvals import APPROVE_ACTION, REJECT_ACTION
from bot.render.blocks import (
    SECTION_TEXT_LIMIT,
    STATUS_ICON,
    clip,
    mrkdwn_context,
    mrkdwn_section,
    mrkdwn_sections,
    slack_time,
)
from bot.render.jobs import CONFIRM_TEXT_LIMIT, JOB_STOP_ACTION, KIND_WORDS, job_name
from bot.render.jobs import STATUS_ICON as JOB_ICON
from bot.store.job_models import JobRun
from bot.text.mrkdwn import escape

MAX_INCIDENTS = 20
MAX_APPROVALS = 10  # two blocks each
MAX_JOBS = 10
MAX_ONCALL = 20
TITLE_LIMIT = 120
NOTICE_LIMIT = 500
URL_LIMIT = 1000
HEADER = "Your opsbot home"
FOOTER = (
    "Refreshed when any of this changes. `/ops home` says the same as text; "
    "`/ops incidents` lists every open incident."
)


def _link(url: str | None, label: str) -> str:
    """``<url|label>`` for a web link (with the characters that would end it early encoded),
    else the label alone; a link too long to show is left out (cut, it would point nowhere)."""
    if not url or not url.startswith(("http://", "https://")) or len(url) > URL_LIMIT:
        return label
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{label}>"


def _more(shown: int, total: int) -> list[str]:
    return [f"_…and {total - shown} more_"] if total > shown else []


def _heading(title: str, count: int | None = None) -> SectionBlock:
    return mrkdwn_section(f"*{title}*" + (f" ({count})" if count is not None else ""))


# -- the sections, in mrkdwn ---------------------------------------------------------------------


def incident_line(incident: MyIncident) -> str:
    icon = STATUS_ICON.get(incident.status, ":grey_question:")
    name = _link(incident.link, f"#{incident.id} {escape(clip(incident.title, TITLE_LIMIT))}")
    facts = [
        incident.status,
        escape(incident.severity or "no severity"),
        escape(incident.service or "no service"),
        "you lead it" if incident.leads else "you acted on it",
        f"opened {slack_time(incident.opened_at)}",
    ]
    return f"{icon} {name} · " + " · ".join(facts)


def approval_text(approval: WaitingApproval) -> str:
    where = f" on #{approval.incident_id}" if approval.incident_id is not None else ""
    return (
        f":raised_hand: *{escape(clip(approval.summary, TITLE_LIMIT * 2))}*\n"
        f"`{escape(approval.action)}` (run {approval.run_id}){where}, asked by "
        f"<@{approval.requested_by}>, expires {slack_time(approval.expires_at)}"
    )


def job_text(job: JobRun) -> str:
    icon = JOB_ICON.get(job.status, "❔")
    started = job.started_at or job.submitted_at
    return (
        f"{icon} *{job_name(job)}* · {escape(clip(job.status, 32))} · "
        f"`{escape(clip(job.submission_id, 128))}` · since {slack_time(started)}"
    )


def oncall_line(oncall: ServiceOnCall) -> str:
    service = f"*{escape(oncall.service)}*"
    if not oncall.paged:
        return f"{service}: not paged (no `pagerduty:` for it in the service catalog)"
    if oncall.person is None:
        return f"{service}: not read from PagerDuty yet"
    return f"{service}: {escape(oncall.person)}"


def _oncall_lines(facts: HomeFacts) -> list[str]:
    if not facts.pagerduty:
        return ["_PagerDuty is not configured (OPSBOT_PAGERDUTY_TOKEN): no on-call to show._"]
    if not facts.oncall:
        return ["_None of your open incidents names a service._"]
    shown = facts.oncall[:MAX_ONCALL]
    return [oncall_line(o) for o in shown] + _more(len(shown), len(facts.oncall))


def summary_line(facts: HomeFacts, index: int) -> str:
    summary = facts.summaries[index]
    name = _link(summary.link, f"#{summary.incident_id} {escape(clip(summary.title, TITLE_LIMIT))}")
    kind = "final" if summary.final else "so far"
    return f":memo: {name} · {kind} · {slack_time(summary.at)}"


# -- the view --------------------------------------------------------------------------------------


def _approval_blocks(approval: WaitingApproval, n: int) -> list[SlackBlock]:
    return [
        mrkdwn_section(approval_text(approval)),
        ActionsBlock(
            block_id=f"opsbot_home_approval_{n}",
            elements=[
                ButtonElement(
                    action_id=APPROVE_ACTION,
                    style="danger",
                    text=PlainTextObject(text="Approve"),
                    value=approval.token,
                ),
                ButtonElement(
                    action_id=REJECT_ACTION,
                    text=PlainTextObject(text="Reject"),
                    value=approval.token,
                ),
            ],
        ),
    ]


def _job_block(job: JobRun) -> SectionBlock:
    name = clip(f"{KIND_WORDS.get(job.kind, job.kind)} {job.template}", 120)
    stop = ButtonElement(
        action_id=JOB_STOP_ACTION,
        text=PlainTextObject(text="Stop"),
        style="danger",
        value=str(job.id),
        confirm=ConfirmObject(
            title=PlainTextObject(text="Stop this job?"),
            text=PlainTextObject(
                text=clip(f"{name} will be stopped on the cluster.", CONFIRM_TEXT_LIMIT)
            ),
            confirm=PlainTextObject(text="Stop it"),
            deny=PlainTextObject(text="Keep running"),
            style="danger",
        ),
    )
    return SectionBlock(
        block_id=f"opsbot_home_job_{job.id}",
        text=MarkdownTextObject(text=clip(job_text(job), SECTION_TEXT_LIMIT)),
        accessory=stop,
    )


def home_blocks(facts: HomeFacts, notice: str | None = None) -> list[SlackBlock]:
    """The home's blocks; ``notice`` (mrkdwn, already safe): what the last click did."""
    blocks: list[SlackBlock] = [HeaderBlock(text=PlainTextObject(text=HEADER))]
    if notice:
        blocks.append(mrkdwn_section(clip(notice, NOTICE_LIMIT)))

    blocks += [DividerBlock(), _heading("Your open incidents", len(facts.incidents))]
    shown = facts.incidents[:MAX_INCIDENTS]
    lines = [incident_line(i) for i in shown] + _more(len(shown), len(facts.incidents))
    blocks += mrkdwn_sections(lines or ["_None: no open incident you lead or acted on._"])

    blocks += [DividerBlock(), _heading("Approvals waiting for you", len(facts.approvals))]
    for n, approval in enumerate(facts.approvals[:MAX_APPROVALS]):
        blocks += _approval_blocks(approval, n)
    if not facts.approvals:
        blocks.append(mrkdwn_section("_None: nothing waits for your approval._"))
    elif more := _more(MAX_APPROVALS, len(facts.approvals)):
        blocks.append(mrkdwn_section(more[0] + " (`/ops home` lists them all)"))

    blocks += [DividerBlock(), _heading("Your running jobs", len(facts.jobs))]
    blocks += [_job_block(job) for job in facts.jobs[:MAX_JOBS] if job.id is not None]
    if not facts.jobs:
        blocks.append(mrkdwn_section("_None: no Ray job of yours is running._"))
    elif more := _more(MAX_JOBS, len(facts.jobs)):
        blocks.append(mrkdwn_section(more[0] + " (`/ops jobs` lists them all)"))

    blocks += [DividerBlock(), _heading("Latest summaries")]
    summaries = [summary_line(facts, n) for n in range(len(facts.summaries))]
    blocks += mrkdwn_sections(summaries or ["_None written yet._"])

    blocks += [DividerBlock(), _heading("On call for your services")]
    blocks += mrkdwn_sections(_oncall_lines(facts))
    blocks.append(mrkdwn_context(FOOTER))
    return blocks


def home_view(facts: HomeFacts, *, notice: str | None = None, metadata: str = "") -> dict[str, Any]:
    """The ``home`` view for ``views.publish``; ``metadata`` goes in its ``private_metadata``
    (``Homes`` puts the content's hash there, and reads it back when the tab is opened)."""
    return View(
        type="home",
        blocks=home_blocks(facts, notice),
        private_metadata=metadata or None,
    ).to_dict()


# -- the same, as text (``/ops home``) ---------------------------------------------------------


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def home_lines(facts: HomeFacts) -> list[str]:
    """The home as plain lines, every list in full: the console's ``/ops home``."""
    lines = [f"Open incidents you lead or acted on ({len(facts.incidents)}):"]
    for i in facts.incidents:
        role = "you lead it" if i.leads else "you acted on it"
        lines.append(
            f"  #{i.id} {i.title} · {i.status} · {i.severity or 'no severity'} · "
            f"{i.service or 'no service'} · {role} · opened {_when(i.opened_at)}"
        )
    if not facts.incidents:
        lines.append("  none")
    lines.append(f"Approvals waiting for you ({len(facts.approvals)}):")
    for a in facts.approvals:
        where = f" on #{a.incident_id}" if a.incident_id is not None else ""
        lines += [
            f"  {a.summary} — {a.action} (run {a.run_id}){where}, asked by {a.requested_by}, "
            f"expires {_when(a.expires_at)}",
            f"    approve {a.token}   |   reject {a.token}",
        ]
    if not facts.approvals:
        lines.append("  none")
    lines.append(f"Your running jobs ({len(facts.jobs)}):")
    for job in facts.jobs:
        kind = KIND_WORDS.get(job.kind, job.kind)
        lines.append(
            f"  job {job.id}: {kind} {job.template} · {job.status} · {job.submission_id} · "
            f"since {_when(job.started_at or job.submitted_at)} — stop {job.id}"
        )
    if not facts.jobs:
        lines.append("  none")
    lines.append("Latest summaries:")
    for s in facts.summaries:
        kind = "final" if s.final else "so far"
        link = f" {s.link}" if s.link else ""
        lines.append(f"  #{s.incident_id} {s.title} · {kind} · {_when(s.at)}{link}")
    if not facts.summaries:
        lines.append("  none written yet")
    lines.append("On call for your services:")
    if not facts.pagerduty:
        lines.append("  PagerDuty is not configured (OPSBOT_PAGERDUTY_TOKEN)")
    for o in facts.oncall if facts.pagerduty else ():
        if not o.paged:
            lines.append(f"  {o.service}: not paged (no pagerduty: in the service catalog)")
        else:
            lines.append(f"  {o.service}: {o.person or 'not read from PagerDuty yet'}")
    if facts.pagerduty and not facts.oncall:
        lines.append("  none of your open incidents names a service")
    return lines
