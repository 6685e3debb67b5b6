"""The report: verdicts against the targets (PASS/SHORT) and the printed table."""

from __future__ import annotations

import json
import math
from typing import Any

from stormlib.common import TARGET_ACK_P99_MS, TARGET_INGEST_ALERTS_S, TARGET_RSS_MB


def fmt_cpu(c: dict[str, float]) -> str:
    return (
        f"server {c['server_cores']:.2f}, harness {c['harness_cores']:.2f}, other "
        f"{c['other_cores']:.2f} cores; host {c['host_busy_pct']:.0f}% busy of "
        f"{c['host_cpus']:.0f} CPUs"
    )


def fmt_ms(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.1f}"


def verdicts(report: dict[str, Any]) -> list[tuple[str, bool, str]]:
    out: list[tuple[str, bool, str]] = []
    storm = report.get("storm") or {}
    rate = storm.get("alerts_per_s", float("nan"))
    clean = storm.get("errors", 1) == 0
    out.append(
        (
            f"ingest >= {TARGET_INGEST_ALERTS_S:,.0f} alerts/s",
            rate >= TARGET_INGEST_ALERTS_S and clean,
            f"{rate:,.0f} alerts/s" + ("" if clean else f" with {storm.get('errors')} errors"),
        )
    )
    lat = report.get("latency")
    if lat:
        p99 = lat["ack_ms"]["p99"]
        out.append(
            (
                f"ack p99 <= {TARGET_ACK_P99_MS:.0f} ms at {lat['target_alerts_per_s']:g} alerts/s",
                p99 <= TARGET_ACK_P99_MS and lat["errors"] == 0,
                f"p99 {fmt_ms(p99)} ms (p50 {fmt_ms(lat['ack_ms']['p50'])})"
                + ("" if lat["errors"] == 0 else f", {lat['errors']} errors"),
            )
        )
    slack = report.get("slack") or {}
    exp = report.get("expected") or {}
    if slack:
        ok = slack["roots"] == exp["groups"] and slack["duplicate_roots"] == 0
        out.append(
            (
                "root messages == groups",
                ok,
                f"{slack['roots']} roots for {exp['groups']} groups, "
                f"{slack['duplicate_roots']} duplicate",
            )
        )
        out.append(
            (
                "0 alerts lost",
                slack["alerts_lost"] == 0,
                f"{slack['alerts_lost']} of {slack['alerts_expected']} not in any reply "
                f"(by root count: {slack['lost_by_root_count']})",
            )
        )
        n = len(slack["rate_violations"])
        out.append(("0 Slack rate violations", n == 0, f"{n}"))
    rss = report.get("rss_mb", {}).get("peak", float("nan"))
    out.append((f"server RSS < {TARGET_RSS_MB:.0f} MB", rss < TARGET_RSS_MB, f"peak {rss:.0f} MB"))
    return out


def print_table(report: dict[str, Any]) -> None:
    storm = report.get("storm") or {}
    lat = report.get("latency") or {}
    slack = report.get("slack") or {}
    drain = report.get("drain") or {}
    rss = report.get("rss_mb") or {}
    host = report["host"]
    rows: list[tuple[str, str]] = [
        ("database", report["db"]),
        ("host", f"{host['cpus']} CPUs, load average at start {host['loadavg_at_start']}"),
    ]
    if storm:
        ack = storm["ack_ms"]
        rows += [
            (
                "storm deliveries sent",
                f"{storm['deliveries']} ({storm['redeliveries']} redelivered)",
            ),
            ("storm alerts sent", f"{storm['alerts']} ({storm['distinct_alerts']} distinct)"),
            (
                "ingest throughput",
                f"{storm['alerts_per_s']:,.0f} alerts/s, {storm['deliveries_per_s']:,.0f} "
                f"deliveries/s over {storm['seconds']}s",
            ),
            (
                "storm ack latency ms",
                f"p50 {fmt_ms(ack['p50'])}  p95 {fmt_ms(ack['p95'])}  p99 {fmt_ms(ack['p99'])}  "
                f"max {fmt_ms(ack['max'])}",
            ),
            ("storm errors", f"{storm['errors']} {storm['errors_by_kind'] or ''}".strip()),
            ("storm CPU", fmt_cpu(storm["cpu"])),
            (
                "bot: new / deduplicated",
                f"{storm['bot_said']['alerts_new']} / {storm['bot_said']['alerts_deduplicated']} "
                f"(expected {storm['distinct_alerts']} / {storm['redelivered_alerts']})",
            ),
        ]
    if lat:
        ack = lat["ack_ms"]
        rows += [
            (
                "paced phase",
                f"{lat['alerts']} alerts at {lat['target_alerts_per_s']:g} alerts/s, "
                f"{lat['alerts_per_delivery']}/delivery, {lat['seconds']}s",
            ),
            (
                "paced ack latency ms",
                f"p50 {fmt_ms(ack['p50'])}  p95 {fmt_ms(ack['p95'])}  p99 {fmt_ms(ack['p99'])}  "
                f"max {fmt_ms(ack['max'])}",
            ),
            ("paced errors", f"{lat['errors']} {lat['errors_by_kind'] or ''}".strip()),
            ("paced CPU", fmt_cpu(lat["cpu"])),
        ]
    if drain:
        rows.append(
            (
                "outbox drain",
                f"{'drained' if drain['drained'] else 'NOT drained'} in {drain['seconds']}s "
                f"after the last send",
            )
        )
    if slack:
        rows += [
            (
                "root messages",
                f"{slack['roots']} for {report['expected']['groups']} groups "
                f"({slack['duplicate_roots']} duplicate, {slack['groups_without_root']} groups "
                f"without, {slack['unknown_roots']} unknown; "
                f"{slack.get('storm_messages', 0)} storm message(s) besides)",
            ),
            (
                "root posted after (s)",
                "from the storm's first send: first {first}, median {median}, last {last}".format(
                    **slack["root_posted_after_s"]
                ),
            ),
            (
                "root edits (chat.update)",
                f"{slack['root_edits']} (storm message: {slack.get('storm_message_edits', 0)})",
            ),
            ("thread replies", f"{slack['replies']} ({slack['orphan_replies']} orphan)"),
            (
                "alerts lost",
                f"{slack['alerts_lost']} of {slack['alerts_expected']} (listed twice "
                f"{slack['alerts_listed_twice']}, wrong thread {slack['alerts_in_wrong_thread']}"
                f", by root count {slack['lost_by_root_count']})",
            ),
            ("Slack rate violations", str(len(slack["rate_violations"]))),
            ("Slack API errors", json.dumps(slack["post_errors"]) if slack["post_errors"] else "0"),
        ]
    if report.get("outbox") is not None:
        rows.append(("outbox rows (kind/status)", json.dumps(report["outbox"], sort_keys=True)))
    if rss:
        rows.append(
            (
                "server RSS MB",
                f"peak {rss['peak']:.0f} (start {rss['start']:.0f}, end {rss['end']:.0f}, "
                f"{rss['samples']} samples)",
            )
        )
    if report.get("bot_log_errors") is not None:
        rows.append(("bot log ERROR/Traceback lines", str(report["bot_log_errors"])))
    width = max(len(k) for k, _ in rows)
    print()
    print("=" * 78)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("-" * 78)
    for name, ok, detail in report.get("verdicts", []):
        print(f"{'PASS ' if ok else 'SHORT'}  {name:<40} {detail}")
    print("=" * 78, flush=True)
