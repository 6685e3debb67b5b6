"""The enrichment reply in an incident thread: suspects, deploys, data changes, metrics, pods.

One message, so a storm of incidents does not flood the channel: the top suspects first (what
the responder needs), then the evidence, then which sources could not answer and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import Block as SlackBlock
from slack_sdk.models.blocks import ContextBlock, SectionBlock

from bot.enrich.types import ChangeEvent, SourceResult
from bot.render.blocks import MAX_BLOCKS, Block, clip, mrkdwn_context, mrkdwn_sections, to_dicts
from bot.render.workload import workload_blocks
from bot.store.models import Incident
from bot.text.mrkdwn import escape
from bot.text.slack_safe import safe_mrkdwn

if TYPE_CHECKING:
    from bot.enrich.outcome import Outcome

TOP_SUSPECTS = 3
MAX_CHANGES_SHOWN = 8
SOURCE_LABEL = {
    "deploys": "Deploy events",
    "registry": "Model registry",
    "rollouts": "Kubernetes rollouts",
    "data": "Data lineage",
    "metrics": "Metrics",
    "chart": "Chart",
    "oncall": "PagerDuty on-call",
    "workload": "Kubernetes pods",
    "serving": "Model serving",
}
KIND_ICON = {"code": ":package:", "model": ":brain:", "data": ":card_file_box:"}


def _hhmm(change: ChangeEvent) -> str:
    return f"{change.at:%H:%M}"


def _whose(change: ChangeEvent) -> str:
    if change.relation == "upstream_dataset":
        return "upstream "
    if change.relation == "dependency":
        return f"{escape(change.service or '')} (dependency) "
    return ""


def _section(title: str, lines: Sequence[str]) -> list[SectionBlock]:
    return mrkdwn_sections([f"*{title}*", *lines])


def _fmt(value: Any, unit: str | None) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def enrichment_reply(incident: Incident, outcome: Outcome) -> tuple[str, list[Block]]:
    blocks: list[SlackBlock] = []
    suspects = outcome.suspects[:TOP_SUSPECTS]
    if suspects:
        lines = [
            f"{i}. {KIND_ICON.get(s.kind, '')} {escape(s.reason)} _(score {s.score:.2f})_"
            for i, s in enumerate(suspects, 1)
        ]
        blocks += _section("Suspects — what changed before the alert", lines)
        text = f"Top suspect for #{incident.id}: {outcome.suspects[0].reason}"
    else:
        lookback = outcome.results["suspects"].data.get("lookback_min", 0)
        hours = f"{lookback / 60:g} h" if lookback >= 60 else f"{lookback} min"
        of = f" to {escape(incident.service)}" if incident.service else ""
        blocks += _section(
            "Suspects",
            [
                f"Nothing related{of} changed in the {hours} before the alert: no deploy, "
                "model version or data change of the service, its datasets or what it depends "
                "on. No suspect is named."
            ],
        )
        text = f"#{incident.id}: nothing related changed before the alert"

    related = [c for c in outcome.changes if c.relation != "other_service"]
    elsewhere = [c for c in outcome.changes if c.relation == "other_service"]
    deploys = [c for c in related if c.kind in ("code", "model")]
    if deploys:
        lines = [
            f"• {_hhmm(c)} {KIND_ICON[c.kind]} {escape(clip(c.summary, 300))}"
            + (" _(dependency)_" if c.relation == "dependency" else "")
            for c in deploys[:MAX_CHANGES_SHOWN]
        ]
        if len(deploys) > MAX_CHANGES_SHOWN:
            lines.append(f"…and {len(deploys) - MAX_CHANGES_SHOWN} more")
        blocks += _section("Deploys and model versions", lines)
    data = [c for c in related if c.kind == "data"]
    if data:
        lines = [
            f"• {_hhmm(c)} {_whose(c)}{escape(clip(c.summary, 300))}"
            for c in data[:MAX_CHANGES_SHOWN]
        ]
        if len(data) > MAX_CHANGES_SHOWN:
            lines.append(f"…and {len(data) - MAX_CHANGES_SHOWN} more")
        blocks += _section("Data changes", lines)
    if elsewhere:
        lines = [
            f"• {_hhmm(c)} {KIND_ICON.get(c.kind, '')} {escape(clip(c.summary, 300))}"
            for c in elsewhere[:MAX_CHANGES_SHOWN]
        ]
        if len(elsewhere) > MAX_CHANGES_SHOWN:
            lines.append(f"…and {len(elsewhere) - MAX_CHANGES_SHOWN} more")
        blocks += _section("Elsewhere — context, not related to this service", lines)

    metrics = outcome.results.get("metrics")
    if metrics is not None and metrics.status == "ok":
        lines = []
        for sig in metrics.data.get("signals", []):
            pct = sig.get("change_pct")
            change = f" ({pct:+.0f}%)" if isinstance(pct, int | float) else ""
            flag = " :warning:" if sig.get("deviated") else ""
            lines.append(
                f"• *{escape(sig['name'])}* {_fmt(sig.get('baseline'), sig.get('unit'))} → "
                f"{_fmt(sig.get('now'), sig.get('unit'))}{change}{flag}"
            )
        for name, error in (metrics.data.get("errors") or {}).items():
            lines.append(f"• *{escape(name)}* unavailable: {escape(clip(str(error), 200))}")
        if lines:
            blocks += _section("Metrics (baseline → now)", lines)
    serving = outcome.results.get("serving")
    if serving is not None and serving.status == "ok" and serving.data.get("line"):
        # Revision and object names came from the cluster: data, never markup.
        blocks += _section("Serving", [safe_mrkdwn(clip(str(serving.data["line"]), 600))])
    blocks += workload_blocks(outcome.results.get("workload"))

    missing = [r for r in outcome.results.values() if r.status == "unavailable"]
    if missing:
        blocks.append(_unavailable(missing))
    return text, to_dicts(blocks[:MAX_BLOCKS])


def _unavailable(results: Sequence[SourceResult]) -> ContextBlock:
    parts = [
        f"{SOURCE_LABEL.get(r.source, r.source)}: {escape(clip(r.reason or 'failed', 200))}"
        for r in results
    ]
    return mrkdwn_context(":warning: Unavailable — " + "; ".join(parts))
