"""Block Kit for a Ray job: its progress message (always the current state) and the one reply
that says how it ended.

Everything shown comes from the ``job_run`` row, and ``progress`` and ``manifest`` come from
the job's own log lines: any field may be missing, of the wrong type or hostile. Nothing here
raises on such a value; numbers that are not numbers are left out, text is escaped and clipped.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.blocks import Block as SlackBlock

from bot.render.blocks import (
    FIELD_LIMIT,
    MAX_FIELDS,
    SECTION_TEXT_LIMIT,
    Block,
    clip,
    mrkdwn_context,
    mrkdwn_section,
    slack_time,
    to_dicts,
)
from bot.store.job_models import JobRun, JobStatus
from bot.text.mrkdwn import escape

JOB_STOP_ACTION = "opsbot_job_stop"

KIND_WORDS = {"train": "Training", "score": "Batch scoring"}
STATUS_ICON = {
    JobStatus.SUBMITTED: "📨",
    JobStatus.PENDING: "⏳",
    JobStatus.RUNNING: "▶️",
    JobStatus.SUCCEEDED: "✅",
    JobStatus.FAILED: "❌",
    JobStatus.STOPPED: "⏹",
}
CONFIRM_TEXT_LIMIT = 300  # the text of a button's confirmation dialog
VALUE_LIMIT = 200  # one manifest or progress value, before escaping
MESSAGE_LIMIT = 500
MAX_METRICS = 6
MAX_TIMINGS = 5
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,20})&gt;")


# -- hostile values ------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    """A finite number, or None for anything else (bools, strings, NaN, dicts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int past float's range
        return None
    return number if math.isfinite(number) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = VALUE_LIMIT) -> str | None:
    """A string or number as escaped mrkdwn; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        text = str(value).strip()
    except ValueError:  # an int too long to print
        return None
    return escape(clip(text, limit)) if text else None


def _code(value: Any, limit: int = VALUE_LIMIT) -> str | None:
    """``value`` as inline code (a backtick inside would end the span early)."""
    text = _text(value, limit)
    return "`" + text.replace("`", "'") + "`" if text else None


def _fmt(number: float) -> str:
    number = float(number)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:.4g}"


def _mention(user: str) -> str:
    return f"<@{user}>" if _USER_ID.match(user) else escape(clip(user, 64))


def _message(job: JobRun, limit: int = MESSAGE_LIMIT) -> str:
    """The first line of ``job.message`` (Ray's own goes on with the log, shown apart), escaped;
    the mentions opsbot writes itself (``stop requested by <@U1>``) stay mentions, and only of
    the people the job knows (who started it, who stopped it): text from the cluster cannot
    ping anyone."""
    text = job.message or ""
    known = {job.requested_by, job.stop_requested_by}
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")

    def mention(match: re.Match[str]) -> str:
        return f"<@{match.group(1)}>" if match.group(1) in known else match.group(0)

    return _ESCAPED_MENTION.sub(mention, escape(clip(first.rstrip(":"), limit)))


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# -- pieces --------------------------------------------------------------------------------


def duration(seconds: float, sep: str = "") -> str:
    """``45s``, ``3m12s``, ``2h05m``, ``3d04h`` (two units at most, rounded down; ``sep``
    between them: ``3m 12s``)."""
    s = int(max(0.0, min(seconds, 999 * 86400.0)))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{sep}{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{sep}{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{sep}{h:02d}h"


def progress_bar(done: float, total: float | None, width: int = 20) -> str:
    """``▓▓▓▓▓░░░░░ 50%``; empty when the total is unknown or zero."""
    if total is None or not total > 0 or width < 1:
        return ""
    fraction = min(1.0, max(0.0, done / total))
    filled = int(fraction * width)
    return "▓" * filled + "░" * (width - filled) + f" {int(fraction * 100)}%"


def job_name(job: JobRun) -> str:
    """``Training fraud-scorer``, escaped."""
    kind = KIND_WORDS.get(job.kind) or escape(clip(job.kind, 32))
    return f"{kind} {escape(clip(job.template, 64))}"


def elapsed_s(job: JobRun, now: datetime) -> float:
    start = _aware(job.started_at or job.submitted_at)
    end = _aware(job.ended_at or now)
    return max(0.0, (end - start).total_seconds())


def _run_s(job: JobRun, now: datetime) -> float:
    """How long it has held its resources: from its start, 0 before."""
    if job.started_at is None:
        return 0.0
    return max(0.0, (_aware(job.ended_at or now) - _aware(job.started_at)).total_seconds())


def _counts(job: JobRun) -> tuple[float | None, float | None, str]:
    progress = _dict(job.progress)
    unit = _text(progress.get("unit"), 32) or ""
    return _num(progress.get("done")), _num(progress.get("total")), unit


def eta_s(job: JobRun, now: datetime) -> float | None:
    """Seconds left at the rate so far; None unless running with some of a known total done."""
    done, total, _ = _counts(job)
    run_s = _run_s(job, now)
    if job.status != JobStatus.RUNNING or done is None or total is None:
        return None
    if done <= 0 or total <= done or run_s <= 0:
        return None
    return (total - done) / (done / run_s)


def cost(job: JobRun, now: datetime) -> str | None:
    """``~$1.23 (0.41 GPU-h at $3/h)`` when the template has a GPU price and the job GPUs."""
    rate = _num(job.cost_per_gpu_hour)
    gpus = _num(_dict(job.resources).get("gpus"))
    if rate is None or gpus is None or gpus <= 0 or rate < 0:
        return None
    gpu_hours = gpus * _run_s(job, now) / 3600
    return f"~${gpu_hours * rate:,.2f} ({gpu_hours:.2f} GPU-h at ${_fmt(rate)}/h)"


def resources_line(resources: Any) -> str:
    res = _dict(resources)
    parts = [
        f"{_fmt(value)} {label}"
        for key, label in (("cpus", "CPU"), ("gpus", "GPU"), ("memory_gb", "GB memory"))
        if (value := _num(res.get(key))) is not None
    ]
    return " · ".join(parts) or "default"


def metrics_line(metrics: Any, limit: int = MAX_METRICS) -> str:
    """``val_auc 0.9123 · loss 0.2311``: the first few numeric metrics, rounded."""
    parts = [
        f"{escape(clip(str(name), 40))} {_fmt(number)}"
        for name, value in _dict(metrics).items()
        if (number := _num(value)) is not None
    ]
    return " · ".join(parts[:limit])


def _timings_line(timings: Any) -> str:
    parts = [
        f"{escape(clip(str(name).removesuffix('_s'), 32))} {duration(number)}"
        for name, value in _dict(timings).items()
        if (number := _num(value)) is not None
    ]
    return " · ".join(parts[:MAX_TIMINGS])


def _version(value: Any) -> str | None:
    text = _text(value, 64)
    if text is None:
        return None
    return text if text.lower().startswith("v") else f"v{text}"


# -- the progress message ------------------------------------------------------------------


def _fields(job: JobRun, now: datetime) -> list[str]:
    icon = STATUS_ICON.get(job.status, "❔")
    fields = [
        f"*Job*\n{_code(job.submission_id, 128) or '?'}",
        f"*Status*\n{icon} {escape(clip(job.status, 32))}",
        f"*Started by*\n{_mention(job.requested_by)}",
        f"*Resources*\n{resources_line(job.resources)}",
        f"*Elapsed*\n{duration(elapsed_s(job, now))}",
    ]
    eta = eta_s(job, now)
    if eta is not None:
        fields.append(f"*ETA*\n~{duration(eta)}")
    if job.status in (JobStatus.SUBMITTED, JobStatus.PENDING):
        fields.append(f"*Must start by*\n{slack_time(_aware(job.start_deadline_at))}")
    if job.status in JobStatus.ACTIVE:
        fields.append(f"*Deadline*\n{slack_time(_aware(job.deadline_at))}")
    spent = cost(job, now)
    if spent is not None:
        fields.append(f"*Cost so far*\n{spent}")
    return [clip(f, FIELD_LIMIT) for f in fields[:MAX_FIELDS]]


def _progress_text(job: JobRun) -> str | None:
    done, total, unit = _counts(job)
    lines = []
    if done is not None:
        count = f"{_fmt(done)}/{_fmt(total)}" if total is not None else _fmt(done)
        bar = progress_bar(done, total)
        lines.append(f"{bar}  *{count}* {unit}".strip())
    metrics = metrics_line(_dict(job.progress).get("metrics"))
    if metrics:
        lines.append(f"*Latest metrics* {metrics}")
    return "\n".join(lines) or None


def manifest_lines(manifest: Any) -> list[str]:
    """What a finished job produced, from its manifest: model, output, metrics, rows, timings."""
    m = _dict(manifest)
    lines = []
    model_dir, version = _code(m.get("model_dir")), _version(m.get("model_version"))
    if model_dir or version:
        lines.append(
            " ".join(p for p in ("*Model*", version, model_dir and f"in {model_dir}") if p)
        )
    output = _dict(m.get("output"))
    if (path := _code(output.get("path"))) is not None:
        lines.append(f"*Output* {path}")
    metrics = metrics_line(m.get("metrics"))
    if metrics:
        lines.append(f"*Metrics* {metrics}")
    if (rows := _rows_line(m)) is not None:
        lines.append(f"*Rows* {rows}")
    if timings := _timings_line(m.get("timings")):
        lines.append(f"*Timings* {timings}")
    return lines


def _rows_line(m: dict[str, Any]) -> str | None:
    parts = []
    for label, key in (("read", "input"), ("trained on", "dataset"), ("written", "output")):
        if (rows := _num(_dict(m.get(key)).get("rows"))) is not None:
            parts.append(f"{label} {_fmt(rows)}")
    if (rate := _num(m.get("rows_per_s"))) is not None:
        parts.append(f"{_fmt(round(rate))}/s")
    return " · ".join(parts) or None


def log_tail_text(tail: str, limit: int = SECTION_TEXT_LIMIT) -> str:
    """``*Log tail*`` and the end of the log in a code block, cut from the start to fit."""
    label, fence = "*Log tail*\n```\n", "\n```"
    room = limit - len(label) - len(fence) - 1  # 1 for the "…" of a cut
    raw = tail.rstrip().replace("```", "'''")
    start, used = len(raw), 0
    for ch in reversed(raw):  # the escaped length decides what fits
        size = len(escape(ch))
        if used + size > room:
            break
        used += size
        start -= 1
    body = ("…" if start > 0 else "") + escape(raw[start:])
    return f"{label}{body}{fence}"


def _stop_button(job: JobRun) -> ActionsBlock:
    name = clip(f"{KIND_WORDS.get(job.kind, job.kind)} {job.template}", 120)
    confirm = ConfirmObject(
        title=PlainTextObject(text="Stop this job?"),
        text=PlainTextObject(
            text=clip(f"{name} will be stopped on the cluster.", CONFIRM_TEXT_LIMIT)
        ),
        confirm=PlainTextObject(text="Stop it"),
        deny=PlainTextObject(text="Keep running"),
        style="danger",
    )
    return ActionsBlock(
        block_id="opsbot_job_controls",
        elements=[
            ButtonElement(
                action_id=JOB_STOP_ACTION,
                text=PlainTextObject(text="Stop"),
                style="danger",
                value=str(job.id),
                confirm=confirm,
            )
        ],
    )


def render_job(job: JobRun, now: datetime) -> tuple[str, list[Block]]:
    """The progress message: what runs, who started it, how far it is, and what came out."""
    icon = STATUS_ICON.get(job.status, "❔")
    kind = KIND_WORDS.get(job.kind) or escape(clip(job.kind, 32))
    status = escape(clip(job.status, 32))
    blocks: list[SlackBlock] = [
        mrkdwn_section(f"{icon} *{kind}* {_code(job.template, 64) or ''}"),
        SectionBlock(fields=[MarkdownTextObject(text=f) for f in _fields(job, now)]),
    ]
    text = f"{icon} {job_name(job)} ({escape(clip(job.submission_id, 128))}): {status}"
    if (progress := _progress_text(job)) is not None:
        blocks.append(mrkdwn_section(progress))
    if job.message:
        blocks.append(mrkdwn_section(f":information_source: {_message(job)}"))
        text += f" — {_message(job)}"
    if job.status in (JobStatus.FAILED, JobStatus.STOPPED) and job.log_tail:
        blocks.append(mrkdwn_section(log_tail_text(job.log_tail)))
    if job.status == JobStatus.SUCCEEDED and (lines := manifest_lines(job.manifest)):
        blocks.append(mrkdwn_section("\n".join(lines)))
    if job.status in JobStatus.ACTIVE and job.id is not None:
        blocks.append(_stop_button(job))
    return text, to_dicts(blocks)


# -- the reply when it ends ----------------------------------------------------------------


def _success_summary(job: JobRun) -> str:
    m = _dict(job.manifest)
    parts = []
    if (version := _version(m.get("model_version"))) is not None:
        parts.append(f"model {version}")
    metrics = metrics_line(m.get("metrics") or _dict(job.progress).get("metrics"), limit=2)
    if metrics:
        parts.append(metrics)
    if (rows := _num(_dict(m.get("output")).get("rows"))) is not None:
        parts.append(f"{_fmt(rows)} rows scored")
    return ", ".join(parts)


def _outcome(job: JobRun) -> str:
    name = job_name(job)
    message = _message(job) if job.message else ""
    if job.status == JobStatus.SUCCEEDED:
        took = f" in {duration(elapsed_s(job, job.ended_at))}" if job.ended_at else ""
        summary = _success_summary(job)
        return f"✅ {name} succeeded{took}" + (f" — {summary}" if summary else "")
    if job.status == JobStatus.FAILED:
        return f"❌ {name} failed: {message or 'no reason given'}"
    if job.status == JobStatus.STOPPED:
        if job.stop_requested_by:
            return f"⏹ {name} stopped by {_mention(job.stop_requested_by)}"
        return f"⏹ {name} stopped" + (f": {message}" if message else "")
    icon = STATUS_ICON.get(job.status, "❔")
    return f"{icon} {name}: {escape(clip(job.status, 32))}"


def render_job_done(job: JobRun) -> tuple[str, list[Block]]:
    """The one reply under the progress message when the job ends: ``✅ Training fraud-scorer
    succeeded in 3m12s — model v3, val_auc 0.91``, ``❌ … failed: <why>``, ``⏹ … stopped by
    <@U1>``."""
    text = clip(_outcome(job), SECTION_TEXT_LIMIT)
    job_ref = f"job {_code(job.submission_id, 128) or job.id}"
    return text, to_dicts([mrkdwn_section(text), mrkdwn_context(job_ref)])
