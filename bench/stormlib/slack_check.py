"""What reached Slack: the emulator's channel read back and matched against the storms sent."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from bot.render.storm import STORM_BLOCK
from stormlib.common import CHANNEL
from stormlib.load import percentile
from stormlib.payloads import Storm

ROOT_TEXT = re.compile(r"^[A-Z]+: #(\d+) (.*) \(severity ")
ALERTS_FIELD = re.compile(r"\*Alerts\*\n(\d+) firing / (\d+) total")
POD_LABEL = re.compile(r"\bpod=([A-Za-z0-9._-]+)")
MORE_LINE = re.compile(r"…and (\d+) more")


def message_texts(m: dict[str, Any]) -> Iterator[str]:
    yield m.get("text") or ""
    for block in m.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            yield str(text.get("text") or "")
        for f in block.get("fields") or []:
            if isinstance(f, dict):
                yield str(f.get("text") or "")
        for el in block.get("elements") or []:
            if isinstance(el, dict) and isinstance(el.get("text"), str):
                yield el["text"]


def analyse_slack(slack: Any, storms: list[Storm], t0: float) -> dict[str, Any]:
    """What reached the channel; ``t0`` is ``time.monotonic()`` when the storm began (the
    emulator runs in this process and stamps posts with the same clock)."""
    groups = {g.index: g for s in storms for g in s.groups}
    by_title = {g.summary: g.index for g in groups.values()}
    pods: dict[str, int] = {}
    expected_per_group: Counter[int] = Counter()
    for s in storms:
        pods.update(s.pods)
        expected_per_group.update(s.alerts_per_group)

    # The storm message (one per storm, naming the waiting incidents) is no incident's root.
    top = slack.roots(CHANNEL)
    storm_messages = [m for m in top if (m.get("blocks") or [{}])[0].get("block_id") == STORM_BLOCK]
    roots = [m for m in top if m not in storm_messages]
    roots_by_group: dict[int, list[dict[str, Any]]] = defaultdict(list)
    roots_by_incident: Counter[str] = Counter()
    unknown_roots = 0
    for root in roots:
        m = ROOT_TEXT.match(root.get("text") or "")
        if m is None or m.group(2) not in by_title:
            unknown_roots += 1
            continue
        roots_by_incident[m.group(1)] += 1
        roots_by_group[by_title[m.group(2)]].append(root)

    seen: Counter[str] = Counter()
    misrouted = 0
    not_listed = 0  # "…and N more": alerts a reply counted but did not list
    replies_total = 0
    root_count_shortfall = 0
    for g, group_roots in roots_by_group.items():
        best_total = 0
        for root in group_roots:
            for text in message_texts(root):
                fm = ALERTS_FIELD.search(text)
                if fm:
                    best_total = max(best_total, int(fm.group(2)))
            for reply in slack.replies(CHANNEL, root["ts"]):
                replies_total += 1
                for text in message_texts(reply):
                    not_listed += sum(int(n) for n in MORE_LINE.findall(text))
                    for pod in POD_LABEL.findall(text):
                        seen[pod] += 1
                        if pods.get(pod, g) != g:
                            misrouted += 1
        root_count_shortfall += max(0, expected_per_group[g] - best_total)
    # A reply's ``text`` is only a count ("3 alert(s): ..."); alert lines are in its blocks,
    # so a pod seen twice was posted twice.
    lost = [p for p in pods if p not in seen]
    first_root_at = sorted(
        min(float(r["posted_at"]) for r in rs) - t0 for rs in roots_by_group.values()
    )
    missing_groups = [g for g in groups if g not in roots_by_group]
    known_threads = {r["ts"] for rs in roots_by_group.values() for r in rs}
    orphan_replies = sum(
        1
        for m in slack.messages(CHANNEL)
        if m["thread_ts"] is not None and m["thread_ts"] not in known_threads
    )
    return {
        "groups_expected": len(groups),
        "roots": len(roots),
        "groups_with_root": len(roots_by_group),
        "groups_without_root": len(missing_groups),
        "duplicate_roots": sum(len(rs) - 1 for rs in roots_by_group.values() if len(rs) > 1),
        "incidents_with_several_roots": sum(1 for n in roots_by_incident.values() if n > 1),
        "unknown_roots": unknown_roots,
        "storm_messages": len(storm_messages),
        "root_posted_after_s": {
            "first": round(first_root_at[0], 1) if first_root_at else None,
            "median": round(percentile(first_root_at, 0.5), 1) if first_root_at else None,
            "last": round(first_root_at[-1], 1) if first_root_at else None,
        },
        "root_edits": sum(r["edits"] for r in roots),
        "storm_message_edits": sum(m["edits"] for m in storm_messages),
        "replies": replies_total,
        "orphan_replies": orphan_replies,
        "alerts_expected": len(pods),
        "alerts_listed": sum(1 for p in pods if p in seen),
        "alerts_lost": len(lost),
        "alerts_lost_sample": lost[:5],
        "alerts_listed_twice": sum(1 for n in seen.values() if n > 1),
        "alerts_in_wrong_thread": misrouted,
        "alerts_counted_not_listed": not_listed,
        "lost_by_root_count": root_count_shortfall,
        "method": (
            "alerts_lost: the unique `pod` label of each alert sent, looked for in the alert "
            "lines (bot/render/blocks.py alert_line renders labels, not the fingerprint) of the "
            "replies in its group's thread; lost_by_root_count: per group, alerts sent minus "
            "the root's 'N firing / M total' M"
        ),
        "post_errors": Counter(
            f"{c['method']}: {c['error']}" for c in slack.calls() if not c["ok"]
        ),
        "rate_violations": slack.rate_violations(),
    }
