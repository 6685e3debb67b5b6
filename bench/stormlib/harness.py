"""The run: the Slack emulator, a fresh database, ``opsbot serve``, and the phases against it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from stormlib.common import (
    AM_TOKEN,
    BOT_TOKEN,
    CHANNEL,
    PG_ADMIN_URL,
    SIGNING_SECRET,
    HarnessError,
    log,
)
from stormlib.load import send_closed_loop, send_open_loop
from stormlib.observe import CpuMeter, RssSampler, outbox_status, read_metrics, wait_for_drain
from stormlib.payloads import build_storm, make_groups
from stormlib.report import verdicts
from stormlib.slack_check import analyse_slack
from tests.support.server import BotProcess

# -- databases ----------------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'opsbot.db'}"
        return
    import psycopg
    from psycopg import sql

    name = f"opsbot_bench_{secrets.token_hex(5)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise HarnessError(f"cannot create PostgreSQL database {name}: {exc}") from exc
    log(f"PostgreSQL database {name} created")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        try:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            log(f"PostgreSQL database {name} dropped")
        except psycopg.Error as exc:
            log(f"could not drop database {name}: {exc}")


# -- the run ------------------------------------------------------------------------------------


def load_emulator() -> Any:
    try:
        from tests.fakes.slack.api import SlackEmulator
    except ImportError as exc:
        raise HarnessError(
            f"the Slack emulator (tests/fakes/slack/api.py) is missing: {exc}"
        ) from exc
    return SlackEmulator


async def run_phases(
    args: argparse.Namespace, url: str, slack: Any, pid: int, report: dict[str, Any]
) -> None:
    rng = random.Random(args.seed)
    cpu = CpuMeter(pid)
    run_id = secrets.token_hex(4)

    storm = build_storm(
        run_id=run_id,
        groups=make_groups("svc", args.groups),
        alerts=args.alerts,
        per_delivery=args.alerts_per_delivery,
        redeliver=args.redeliver,
        spread=2 * args.concurrency,
        rng=rng,
    )
    log(
        f"storm: {storm.distinct_alerts} distinct alerts in {len(storm.groups)} groups, "
        f"{len(storm.deliveries)} deliveries ({storm.redeliveries} redeliveries), "
        f"{storm.alerts_sent} alerts on the wire"
    )
    before = cpu.snapshot()
    t0 = time.monotonic()
    if args.rate > 0:
        storm_result = await send_open_loop(
            "storm", url, storm.deliveries, args.rate, args.concurrency, args.phase_timeout
        )
    else:
        storm_result = await send_closed_loop(
            "storm", url, storm.deliveries, args.concurrency, args.phase_timeout
        )
    report["storm"] = storm_result.summary()
    report["storm"]["cpu"] = cpu.since(before)
    report["storm"]["distinct_alerts"] = storm.distinct_alerts
    report["storm"]["redeliveries"] = storm.redeliveries
    report["storm"]["redelivered_alerts"] = sum(d.alerts for d in storm.deliveries if d.redelivery)
    s = report["storm"]
    log(
        f"storm done: {s['deliveries']} deliveries, {s['alerts']} alerts in {s['seconds']}s = "
        f"{s['alerts_per_s']} alerts/s, {s['deliveries_per_s']} deliveries/s; ack ms p50 "
        f"{s['ack_ms']['p50']} p95 {s['ack_ms']['p95']} p99 {s['ack_ms']['p99']} max "
        f"{s['ack_ms']['max']}; errors {s['errors']}"
    )

    storms = [storm]
    if args.latency_rate > 0 and args.latency_seconds > 0:
        total = max(1, round(args.latency_rate * args.latency_seconds))
        k = args.latency_alerts_per_delivery
        lat = build_storm(
            run_id=run_id,
            groups=make_groups("lat", args.latency_groups, offset=args.groups),
            alerts=total,
            per_delivery=k,
            redeliver=0.0,
            spread=1,
            rng=rng,
        )
        rate = args.latency_rate / k  # deliveries/s
        log(
            f"latency: {total} alerts in {len(lat.groups)} new groups, {k} per delivery, "
            f"at {args.latency_rate:g} alerts/s ({rate:g} deliveries/s) for "
            f"{args.latency_seconds:g}s, open loop"
        )
        before = cpu.snapshot()
        lat_result = await send_open_loop(
            "latency", url, lat.deliveries, rate, args.concurrency, args.phase_timeout
        )
        report["latency"] = lat_result.summary()
        report["latency"]["cpu"] = cpu.since(before)
        report["latency"]["alerts_per_delivery"] = k
        report["latency"]["target_alerts_per_s"] = args.latency_rate
        s = report["latency"]
        log(
            f"latency done: {s['deliveries']} deliveries in {s['seconds']}s; ack ms p50 "
            f"{s['ack_ms']['p50']} p99 {s['ack_ms']['p99']} max {s['ack_ms']['max']}; "
            f"errors {s['errors']}; worst send lag {s['max_schedule_lag_ms']} ms"
        )
        storms.append(lat)

    async with httpx.AsyncClient(base_url=url) as client:
        report["metrics_after_send"] = await read_metrics(client)

    log(f"drain: waiting for the outbox to empty (up to {args.drain_timeout:g}s)")
    drain = await wait_for_drain(url, slack, args.drain_timeout)
    report["drain"] = {
        "drained": drain.drained,
        "seconds": round(drain.seconds, 1),
        "last_depth": drain.last_depth,
    }
    log(
        f"drain: {'empty' if drain.drained else 'NOT empty'} after {drain.seconds:.1f}s "
        f"(depth {drain.last_depth})"
    )
    async with httpx.AsyncClient(base_url=url) as client:
        report["metrics_final"] = await read_metrics(client)
    slack_report = analyse_slack(slack, storms, t0)
    slack_report["post_errors"] = dict(slack_report["post_errors"])
    report["slack"] = slack_report
    report["expected"] = {
        "groups": sum(len(s.groups) for s in storms),
        "distinct_alerts": sum(s.distinct_alerts for s in storms),
        "alerts_sent": sum(s.alerts_sent for s in storms),
    }


def count_log_errors(path: Path) -> tuple[int, list[str]]:
    if not path.exists():
        return 0, []
    lines = [
        line
        for line in path.read_text(errors="replace").splitlines()
        if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
    ]
    return len(lines), lines[:10]


def run(args: argparse.Namespace) -> dict[str, Any]:
    emulator_cls = load_emulator()
    report: dict[str, Any] = {
        "db": args.db,
        "args": {k: v for k, v in vars(args).items() if k != "json"},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
    }
    workdir = Path(tempfile.mkdtemp(prefix="opsbot-bench-"))
    log_path = workdir / "opsbot.log"
    keep_workdir = True
    slack = emulator_cls(bot_token=BOT_TOKEN, channels=(CHANNEL,), channel_rate=None)
    try:
        slack.start()
        with database(args.db, workdir) as db_url:
            env = {
                "OPSBOT_DATABASE_URL": db_url,
                "OPSBOT_ALERTMANAGER_TOKEN": AM_TOKEN,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "OPSBOT_SLACK_API_URL": slack.api_url,
                "OPSBOT_INCIDENT_CHANNEL": CHANNEL,
                "OPSBOT_LOG_LEVEL": "WARNING",
            }
            if args.channel_rate is not None:
                env["OPSBOT_SLACK_CHANNEL_RATE"] = str(args.channel_rate)
            bot = BotProcess(env, log_path=log_path)
            log(f"starting opsbot serve ({args.db}), log {log_path}")
            try:
                bot.start(timeout=60)
            except (RuntimeError, TimeoutError) as exc:
                raise HarnessError(f"opsbot did not start: {exc}") from exc
            assert bot.proc is not None
            log(f"opsbot ready at {bot.url} (pid {bot.proc.pid}); Slack emulator {slack.url}")
            budget = args.phase_timeout * 2 + args.drain_timeout + 600
            sampler = RssSampler(bot.proc.pid, budget).start()
            try:
                asyncio.run(run_phases(args, bot.url, slack, bot.proc.pid, report))
                report["outbox"] = outbox_status(db_url)
            finally:
                sampler.stop()
                report["rss_mb"] = {
                    "peak": sampler.peak / 2**20,
                    "start": sampler.first / 2**20,
                    "end": sampler.last / 2**20,
                    "samples": sampler.samples,
                }
                alive = bot.proc.poll() is None
                report["bot_alive_at_end"] = alive
                if not alive:
                    log(f"opsbot exited early with {bot.proc.returncode}")
                bot.stop()
                n, first = count_log_errors(log_path)
                report["bot_log_errors"] = n
                report["bot_log_error_sample"] = first
                report["bot_log"] = str(log_path)
        keep_workdir = bool(report.get("bot_log_errors")) or args.keep
    finally:
        try:
            slack.stop()
        except Exception as exc:  # the figures are in; a messy emulator shutdown loses nothing
            log(f"warning: the Slack emulator did not stop cleanly: {type(exc).__name__}: {exc}")
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report["verdicts"] = verdicts(report)
    return report
