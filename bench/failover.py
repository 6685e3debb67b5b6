"""Failover benchmark: ``kill -9`` of the replica doing the work; how long until another does it.

    uv run python bench/failover.py              # 3 rounds
    uv run python bench/failover.py --rounds 5
    uv run python bench/failover.py --warm-adopter

Each round starts on a fresh PostgreSQL database (``CREATE DATABASE`` on 127.0.0.1:5432, dropped
at the end) with two ``opsbot serve`` replicas, the Slack emulator (record-only) and the
Kubernetes API fake, all on 127.0.0.1. Then, one after the other:

1. **outbox**: an alert storm (``--groups`` groups x ``--per-group`` alerts, one alert per
   webhook) is dealt over both replicas; once the first roots are in Slack the replica leading
   ``outbox`` (its ``/readyz`` says so) is killed with SIGKILL. Measured, from the kill: the
   survivor leading ``outbox``, and the first Slack post (``chat.postMessage``/``chat.update``
   that Slack answered ok, by the emulator's clock, which is this process's). Webhooks that got
   no 200 are delivered again to the survivor, as Alertmanager retries; a third replica joins.
   When the outbox is drained: **lost** = alerts of the storm not listed in their thread,
   **duplicates** = roots beyond one per group plus alerts listed more than once.
2. **playbook**: a model deploy and an alert for ``fraud-scorer``; the root offers
   ``rollback-model-deploy``; one person clicks it, another approves the rollback on the
   replica leading ``runs``: killing it takes the run's driver and the adopters' lead at once.
   The first click goes there too, so the adopter has never run a playbook and imports
   LangGraph first (the cold case; that import is timed on its own at the end); with
   ``--warm-adopter`` it goes to the other replica, which then has LangGraph loaded. The fake
   holds the answer to the rollback's PATCH (it lands at once); once it has landed the
   approving replica is killed. Measured, from the kill, by the database's own timestamps: the
   rollback's action run adopted (its ``adopted`` audit entry) and the next step (``wait``)
   starting (its action run created). The PATCH must have happened once. There is no
   Prometheus here: ``verify`` cannot read the error rate and the run ends on its
   ``report-not-recovered`` branch, as in the offer test.

Target: each takeover within 10 s, nothing lost, nothing doubled. Exit 1 when a round misses
that, 2 when the harness itself cannot run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import Engine
from sqlmodel import Session, col, select

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.store.engine import make_engine  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import AuditEntry  # noqa: E402
from bot.store.run_models import ActionRun, PlaybookRun  # noqa: E402
from tests.chat.test_slack_approvals import click  # noqa: E402
from tests.chat.test_slack_events import signed_headers  # noqa: E402
from tests.fakes.kubernetes.api import KubeApiFake  # noqa: E402
from tests.fakes.slack.api import SlackEmulator  # noqa: E402
from tests.support.fleet import (  # noqa: E402
    CHANNEL,
    Replicas,
    deliver,
    fleet_env,
    listed_alerts,
    outbox_depth,
    storm,
    wait_for,
)
from tests.support.payloads import am_alert, am_payload  # noqa: E402
from tests.support.server import BotProcess  # noqa: E402
from tests.support.store import alerts  # noqa: E402

ADMIN_URL = os.environ.get("OPSBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_S = 10.0
NS, DEPLOY, SERVICE = "ml-serving", "fraud-scorer", "fraud-scorer"
DEPLOY_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/{DEPLOY}"
PLAYBOOK = "rollback-model-deploy"
API_TOKEN = "failover-api-token"
SLACK_POSTS = ("chat.postMessage", "chat.update")
LANGGRAPH = "import langgraph.graph, langgraph.types, langgraph.checkpoint.postgres"
CATALOG = f"""
services:
  {SERVICE}: {{namespace: {NS}, deployments: [{DEPLOY}]}}
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment]
      playbooks: ["*"]
      run: ["@sre"]
      approve: ["@sre"]
"""


@dataclass
class OutboxRound:
    leads_s: float  # kill → the survivor's /readyz lists outbox
    first_post_s: float  # kill → the first Slack post answered ok
    depth_at_kill: float
    redelivered: int
    sent: int
    stored: int
    lost: int
    duplicates: int


@dataclass
class PlaybookRound:
    adopted_s: float  # kill → the rollback's action run adopted
    next_step_s: float  # kill → the next step's action run created
    patches: int
    status: str
    steps: str


# -- the world --------------------------------------------------------------------------------


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"opsbot_failover_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def slack_post(bot: BotProcess, body: bytes, secret: str) -> None:
    r = httpx.post(
        f"{bot.url}/slack/events", content=body, headers=signed_headers(body, secret=secret)
    )
    r.raise_for_status()


# -- 1. outbox --------------------------------------------------------------------------------


def outbox_round(
    args: argparse.Namespace, replicas: Replicas, slack: SlackEmulator, db_url: str
) -> OutboxRound:
    a, b = replicas.running
    leader = replicas.wait_leader("outbox")
    survivor = b if leader is a else a
    deliveries = storm(args.groups, args.per_group, 1)
    answers: list[int | None] = [None] * len(deliveries)

    def send(i: int) -> None:
        answers[i] = deliver((a, b)[i % 2].url, deliveries[i])

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(send, i) for i in range(len(deliveries))]
        wait_for(lambda: len(slack.roots(CHANNEL)) >= 3, 30, "the first roots")
        depth = outbox_depth(survivor.url)
        calls_before = len(slack.calls())
        killed_at = time.monotonic()
        leader.kill()
        dead_at = time.monotonic()  # a post seen after this is not from the killed replica
        wait_for(lambda: "outbox" in replicas.leads(survivor), TARGET_S * 3, "the survivor")
        leads_s = time.monotonic() - killed_at
        for f in futures:
            f.result()
    retry = [d for d, code in zip(deliveries, answers, strict=True) if code != 200]
    for payload in retry:  # Alertmanager retries what got no 200
        if deliver(survivor.url, payload) != 200:
            raise RuntimeError("the survivor refused a redelivery")
    third = replicas.start()
    wait_for(lambda: any(ok_post(c, dead_at) for c in slack.calls()), 60, "a post")
    first = next(c for c in slack.calls()[calls_before:] if ok_post(c, dead_at))
    wait_for(lambda: outbox_depth(third.url) == 0, 120, "the outbox to drain", every=0.2)

    expected = {f"svc-{g}-{n}" for g in range(args.groups) for n in range(args.per_group)}
    seen = listed_alerts(slack)
    roots = Counter(group_of(r) for r in slack.roots(CHANNEL))
    engine = make_engine(db_url)
    try:
        stored = len(alerts(engine))
    finally:
        engine.dispose()
    return OutboxRound(
        leads_s=leads_s,
        first_post_s=first["at"] - killed_at,
        depth_at_kill=depth,
        redelivered=len(retry),
        sent=len(expected),
        stored=stored,
        lost=len(expected - set(seen)),
        duplicates=sum(n - 1 for n in seen.values()) + sum(n - 1 for n in roots.values()),
    )


def ok_post(call: dict[str, Any], after: float) -> bool:
    return call["method"] in SLACK_POSTS and call["ok"] and call["at"] > after


def group_of(root: dict[str, Any]) -> str:
    text = root["text"] + json.dumps(root.get("blocks") or [])
    found = re.search(r"\bsvc-\d+\b", text)
    return found.group(0) if found else root["ts"]


# -- 2. playbook ------------------------------------------------------------------------------


def playbook_round(
    replicas: Replicas,
    slack: SlackEmulator,
    kube: KubeApiFake,
    db_url: str,
    secret: str,
    *,
    warm: bool,
) -> PlaybookRound:
    # The approval goes to the replica leading ``runs``: killing it takes the run's driver and
    # the adopters' lead at once. The click that starts the run goes there too (the adopter has
    # never run a playbook: cold), or with ``warm`` to the other replica.
    driver = replicas.wait_leader("runs")
    other = next(r for r in replicas.running if r is not driver)
    start = datetime.now(UTC) - timedelta(seconds=60)
    deploy = {
        "service": SERVICE,
        "kind": "model",
        "version": "1.4.2",
        "timestamp": (start - timedelta(minutes=6)).isoformat(),
    }
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    httpx.post(f"{driver.url}/api/v1/deployments", json=deploy, headers=headers).raise_for_status()
    if deliver(driver.url, am_payload(SERVICE, [am_alert(SERVICE, 1, starts_at=start)])) != 200:
        raise RuntimeError("the fraud-scorer alert was refused")

    def offer() -> dict[str, Any] | None:  # the root's "Run rollback-model-deploy" button
        for root in slack.roots(CHANNEL):
            for block in root["blocks"] or []:
                for button in block.get("elements", []) if block["type"] == "actions" else []:
                    if str(button.get("value", "")).endswith(f":{PLAYBOOK}"):
                        return {"root": root, "button": button}
        return None

    wait_for(lambda: offer() is not None, 30, "the root to offer the playbook")
    found = offer()
    assert found is not None
    button = found["button"]
    start_click = click(button["action_id"], button["value"], "U0ALICE", slack.response_url("s"))
    slack_post(other if warm else driver, start_click, secret)

    def token() -> str | None:
        for reply in slack.replies(CHANNEL, found["root"]["ts"]):
            for block in reply["blocks"] or []:
                if block["type"] == "actions" and "Approval needed" in json.dumps(reply["blocks"]):
                    return str(block["elements"][0]["value"])
        return None

    wait_for(lambda: token() is not None, 30, "the approval request in the thread")
    kube.delay_next(60.0, method="PATCH", path=DEPLOY_PATH)  # lands at once, answered late
    slack_post(driver, click("opsbot_approve", str(token()), "U0BOB", slack.response_url()), secret)
    wait_for(lambda: patches(kube) == 1, 30, "the rollback's PATCH to land")
    killed_wall = datetime.now(UTC)
    driver.kill()
    kube.clear_faults()

    engine = make_engine(db_url)
    try:
        wait_for(lambda: finished(engine), 60, "the playbook run to end on the survivor", 0.1)
        with Session(engine) as session:
            [run] = session.exec(select(PlaybookRun)).all()
            steps = {
                r.key.rpartition(":")[2]: r
                for r in session.exec(
                    select(ActionRun)
                    .where(ActionRun.playbook_run_id == run.id)
                    .order_by(col(ActionRun.id))
                ).all()
            }
            adopted = session.exec(
                select(AuditEntry).where(
                    AuditEntry.event == "adopted",
                    AuditEntry.subject == f"action_run:{steps['rollback'].id}",
                )
            ).first()
    finally:
        engine.dispose()
    if adopted is None or "wait" not in steps:
        raise RuntimeError(f"no adoption or no next step: run {run.status}, steps {list(steps)}")
    return PlaybookRound(
        adopted_s=(adopted.at - killed_wall).total_seconds(),
        next_step_s=(steps["wait"].created_at - killed_wall).total_seconds(),
        patches=patches(kube),
        status=run.status,
        steps=", ".join(f"{name} {r.status}" for name, r in steps.items()),
    )


def patches(kube: KubeApiFake) -> int:
    return sum(1 for method, path, _ in kube.requests if method == "PATCH" and path == DEPLOY_PATH)


def finished(engine: Engine) -> bool:
    with Session(engine) as session:
        runs = session.exec(select(PlaybookRun)).all()
    return len(runs) == 1 and runs[0].status in ("succeeded", "failed")


# -- the rounds -------------------------------------------------------------------------------


def one_round(args: argparse.Namespace, tmp: Path) -> tuple[OutboxRound, PlaybookRound]:
    with (
        fresh_database() as db_url,
        SlackEmulator(channels=(CHANNEL,)) as slack,
        KubeApiFake() as kube,
    ):
        now = datetime.now(UTC)
        kube.add_deployment(NS, DEPLOY, "registry/fraud-scorer:2.3.0", at=now - timedelta(hours=3))
        kube.roll(NS, DEPLOY, "registry/fraud-scorer:2.3.1", at=now - timedelta(minutes=7))
        (tmp / "services.yaml").write_text(CATALOG)
        env = fleet_env(
            db_url,
            slack,
            OPSBOT_API_TOKEN=API_TOKEN,
            OPSBOT_SERVICES_FILE=str(tmp / "services.yaml"),
            OPSBOT_PLAYBOOKS_DIR=str(ROOT / "playbooks"),
            KUBECONFIG=str(kube.write_kubeconfig(tmp / "kubeconfig")),
        )
        replicas = Replicas(env, tmp)
        try:
            replicas.start()
            replicas.start()
            outbox = outbox_round(args, replicas, slack, db_url)
            # The survivor and the third replica: two again.
            secret = env["SLACK_SIGNING_SECRET"]
            book = playbook_round(replicas, slack, kube, db_url, secret, warm=args.warm_adopter)
        finally:
            replicas.stop_all()
        return outbox, book


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--groups", type=int, default=20, help="alert groups in the storm")
    p.add_argument("--per-group", type=int, default=4, help="alerts per group")
    p.add_argument(
        "--warm-adopter",
        action="store_true",
        help="start the playbook on the replica that will adopt it (LangGraph already loaded)",
    )
    p.add_argument("--keep", action="store_true", help="keep the replicas' logs")
    args = p.parse_args(argv)
    outboxes: list[OutboxRound] = []
    books: list[PlaybookRound] = []
    for i in range(args.rounds):
        tmp = Path(tempfile.mkdtemp(prefix="opsbot-failover-"))
        try:
            outbox, book = one_round(args, tmp)
        except (AssertionError, RuntimeError, TimeoutError, httpx.HTTPError) as exc:
            print(
                f"round {i + 1}: the harness could not run: {exc} (logs in {tmp})", file=sys.stderr
            )
            return 2
        if args.keep:
            print(f"round {i + 1}: logs in {tmp}")
        else:
            shutil.rmtree(tmp)
        outboxes.append(outbox)
        books.append(book)
        print_round(i + 1, outbox, book)
    return report(args, outboxes, books)


def print_round(n: int, o: OutboxRound, b: PlaybookRound) -> None:
    print(
        f"round {n}: outbox: kill → survivor leads {o.leads_s:.2f} s, → first Slack post "
        f"{o.first_post_s:.2f} s (outbox depth at the kill {o.depth_at_kill:g}, "
        f"{o.redelivered} webhooks redelivered); {o.stored}/{o.sent} alerts stored, "
        f"lost {o.lost}, duplicates {o.duplicates}"
    )
    print(
        f"         playbook: kill → rollback adopted {b.adopted_s:.2f} s, → next step started "
        f"{b.next_step_s:.2f} s; PATCHes {b.patches}; run {b.status} (action runs: {b.steps})"
    )


def report(
    args: argparse.Namespace, outboxes: list[OutboxRound], books: list[PlaybookRound]
) -> int:
    figures = {
        "outbox: kill → survivor leads": [o.leads_s for o in outboxes],
        "outbox: kill → first Slack post": [o.first_post_s for o in outboxes],
        "playbook: kill → rollback adopted": [b.adopted_s for b in books],
        "playbook: kill → next step started": [b.next_step_s for b in books],
    }
    print()
    print(
        f"failover benchmark: {args.rounds} round(s), 2 replicas on PostgreSQL, storm "
        f"{args.groups} groups x {args.per_group} alerts, playbook {PLAYBOOK} "
        f"({'warm' if args.warm_adopter else 'cold'} adopter)"
    )
    print(
        f"machine: {os.cpu_count()} cores, {platform.platform()}, "
        f"load average {os.getloadavg()[0]:.1f} (1 min, at the end)"
    )
    for name, values in figures.items():
        print(f"  {name:<36} median {statistics.median(values):5.2f} s  max {max(values):5.2f} s")
    lost = sum(o.lost for o in outboxes)
    duplicates = sum(o.duplicates for o in outboxes)
    extra_patches = sum(abs(b.patches - 1) for b in books)
    print(
        f"  lost {lost}, duplicates {duplicates}, rollback PATCHes other than one: {extra_patches}"
    )
    slow = max(max(v) for v in figures.values())
    ok = lost == 0 and duplicates == 0 and extra_patches == 0 and slow <= TARGET_S
    print(
        f"target: every takeover within {TARGET_S:g} s, nothing lost or doubled: "
        f"{'PASS' if ok else 'FAIL'}"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", LANGGRAPH], cwd=ROOT, check=True, capture_output=True)
    print(
        f"(a replica that has not run a playbook yet imports LangGraph when it adopts one: "
        f"{time.perf_counter() - started:.1f} s here, in a fresh process)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
