"""A new incident's thread: deploys, rollouts, data changes, ranked suspects; each source failing
on its own. Real app, real database, the Slack emulator and the Kubernetes API fake; Prometheus
is unreachable here (the chart and metric evidence have their own test with a real one)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.enrich.conftest import (
    FRAUD_CHANNEL,
    Bot,
    ago,
    dataset,
    run_event,
    running_bot,
)
from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.slack.api import SlackEmulator

FIELDS = {"amount": "DOUBLE", "currency": "STRING", "merchant": "STRING"}


def seed_kube(kube: KubeApiFake, start: Any) -> None:
    kube.add_deployment(
        "ml-serving",
        "fraud-scorer",
        "registry.example/ml/fraud-scorer:2.3.0",
        change_cause="initial release",
        at=start - timedelta(hours=3),
    )
    kube.roll(
        "ml-serving",
        "fraud-scorer",
        "registry.example/ml/fraud-scorer:2.3.1",
        change_cause="release 2.3.1",
        at=start - timedelta(minutes=6),
    )


async def seed_changes(bot: Bot, start: Any) -> None:
    await bot.deploy(
        kind="model", version="1.4.2", actor="ci", timestamp=start - timedelta(minutes=20)
    )
    await bot.deploy(
        kind="code",
        version="2.3.1",
        actor="ci",
        timestamp=start - timedelta(minutes=6, seconds=-20),
    )
    await bot.deploy(
        service="payments", kind="code", version="9.1.0", timestamp=start - timedelta(minutes=3)
    )
    # Shipped after the alert started: a fix, never a suspect.
    await bot.deploy(kind="model", version="1.4.3", timestamp=start + timedelta(seconds=20))
    await bot.lineage(
        run_event(
            start - timedelta(hours=2),
            job="build_features",
            outputs=[dataset("features.transactions", FIELDS, 1000)],
        )
    )
    shrunk = {k: v for k, v in FIELDS.items() if k != "currency"}
    await bot.lineage(
        run_event(
            start - timedelta(minutes=25),
            job="build_features",
            outputs=[dataset("features.transactions", shrunk, 580)],
        )
    )


def thread_of(slack: SlackEmulator, channel: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    roots = slack.roots(channel)
    assert len(roots) == 1, roots
    root = roots[0]
    return root, slack.replies(channel, root["ts"])


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks") or []) + message.get("text", "")


async def test_the_thread_shows_what_changed_and_the_ranked_suspects(
    db_url: str, tmp_path: Path, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    start = ago(seconds=60)
    seed_kube(kube, start)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(db_url, tmp_path, slack, kubeconfig=kubeconfig) as bot:
        await seed_changes(bot, start)
        incident_id = await bot.alert(start, service="fraud-scorer")
        outcome = await bot.enrich(incident_id)

        refs = [s.ref for s in outcome.suspects]
        assert refs == [
            "fraud-scorer:2.3.1",
            "fraud-model 1.4.2",
            "warehouse/features.transactions",
            "fraud-scorer:2.3.0",  # the first release, 3 h before: still in the 6 h lookback
        ]  # payments:9.1.0, 3 min before, is another team's: context, not a suspect
        # The deploy event and the Kubernetes revision of 2.3.1 are one change.
        top = outcome.suspects[0]
        assert top.reason == "fraud-scorer:2.3.1 deployed 6 min before the alert"

        root, replies = thread_of(slack, FRAUD_CHANNEL)  # the catalog's channel for the service
        assert "Likely cause:* fraud-scorer:2.3.1 deployed 6 min before the alert" in text_of(root)
        enrichment = [r for r in replies if "Suspects" in text_of(r)]
        assert len(enrichment) == 1
        body = text_of(enrichment[0])
        assert "1. :package: fraud-scorer:2.3.1 deployed 6 min before the alert" in body
        assert "fraud-model 1.4.2 deployed by ci" in body
        assert "release 2.3.1" in body or "revision 2" in body
        assert "features.transactions" in body
        assert "rows -42%" in body
        assert "currency" in body
        assert "1.4.3" not in body.split("Deploys")[0]  # never a suspect
        context = body.split("Elsewhere")[1]
        assert "context, not related to this service" in context
        assert "payments:9.1.0 deployed" in context
        assert "Metrics: prometheus" in body  # unreachable: shown as unavailable, with why

        detail = await bot.incident(incident_id)
        assert [s["ref"] for s in detail["suspects"]] == refs
        assert detail["suspects"][0]["score"] >= detail["suspects"][1]["score"]
        assert set(detail["suspects"][0]) >= {"kind", "ref", "service", "at", "score", "reason"}
        statuses = {k: v["status"] for k, v in detail["enrichment"].items()}
        assert statuses == {
            "deploys": "ok",
            "registry": "ok",  # the catalog names fraud-model; nothing happened to it
            "rollouts": "ok",
            "data": "ok",
            "metrics": "unavailable",
            "suspects": "ok",
            "chart": "not_configured",
            "oncall": "not_configured",  # no PagerDuty here
            "workload": "ok",  # the Deployment's pods (none seeded here)
            "serving": "not_configured",  # plain Deployments: no canary, no Rollout
        }
        revisions = detail["enrichment"]["rollouts"]["data"]["deployments"]
        assert revisions[0]["revision"] == 2
        assert detail["likely_cause"] == top.reason
        assert detail["enrichment_state"] == "done"
        assert any(e["kind"] == "enrichment" for e in detail["timeline"])

        # Enriching again (a duplicate submit, a restart) changes nothing and posts nothing.
        before = len(slack.messages(FRAUD_CHANNEL))
        assert await bot.rt.enrichment.enricher.enrich(incident_id) is None
        await bot.rt.sender.drain()
        assert len(slack.messages(FRAUD_CHANNEL)) == before


async def test_a_failing_source_is_reported_and_the_others_still_arrive(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    start = ago(seconds=30)
    seed_kube(kube, start)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(sqlite_url, tmp_path, slack, kubeconfig=kubeconfig) as bot:
        await seed_changes(bot, start)
        kube.fail_next(5, status=500)
        incident_id = await bot.alert(start, service="fraud-scorer")
        outcome = await bot.enrich(incident_id)
        results = outcome.results
        assert results["rollouts"].status == "unavailable"
        assert "kubernetes" in (results["rollouts"].reason or "")
        assert results["deploys"].status == "ok"
        assert results["data"].status == "ok"
        # Without the rollout the deploy event alone still names 2.3.1 as the top suspect.
        assert outcome.suspects[0].ref == "fraud-scorer:2.3.1"
        _, replies = thread_of(slack, FRAUD_CHANNEL)
        body = text_of(replies[-1])
        assert "Kubernetes rollouts: kubernetes" in body
        assert "rows -42%" in body


async def test_a_hanging_source_times_out_without_holding_up_the_others(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    start = ago(seconds=30)
    seed_kube(kube, start)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(
        sqlite_url, tmp_path, slack, kubeconfig=kubeconfig, enrich_timeout_s=0.5
    ) as bot:
        await seed_changes(bot, start)
        kube.delay_next(5.0, n=2)  # the first request of each Kubernetes source: rollouts, pods
        incident_id = await bot.alert(start, service="fraud-scorer")
        began = time.monotonic()
        outcome = await bot.rt.enrichment.enricher.enrich(incident_id)
        took = time.monotonic() - began
        assert outcome is not None
        assert outcome.results["rollouts"].status == "unavailable"
        # The source's deadline, or the client's own timeout of the same length, whichever
        # fires first on a loaded machine.
        reason = outcome.results["rollouts"].reason
        assert reason == "timed out after 0.5 s" or reason.endswith("within 0.5s"), reason
        assert outcome.results["deploys"].status == "ok"
        assert outcome.results["data"].status == "ok"
        assert took < 2.0, f"enrichment waited {took:.1f} s for a source with a 0.5 s deadline"


async def test_nothing_related_changed_says_so_and_names_no_suspect(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator
) -> None:
    (tmp_path / "services.yaml").write_text("services: {}\n")
    async with running_bot(sqlite_url, tmp_path, slack, prometheus_url=None) as bot:
        start = ago(seconds=10)
        # Another team's deploy just before: context in the thread, not a suspect.
        await bot.deploy(
            service="payments", kind="code", version="9.1.0", timestamp=start - timedelta(minutes=2)
        )
        incident_id = await bot.alert(start, service="checkout")
        outcome = await bot.enrich(incident_id)
        assert outcome.suspects == []
        statuses = {k: r.status for k, r in outcome.results.items()}
        assert statuses["rollouts"] == "not_configured"
        assert statuses["metrics"] == "not_configured"
        assert statuses["data"] == "not_configured"
        root, replies = thread_of(slack, "C0INCIDENT")  # no catalog channel: the default one
        assert "Likely cause" not in text_of(root)
        body = text_of(replies[-1])
        assert "Nothing related to checkout changed in the 6 h before the alert" in body
        assert "No suspect is named." in body
        assert "payments:9.1.0 deployed" in body.split("Elsewhere")[1]
        detail = await bot.incident(incident_id)
        assert detail["suspects"] == []
        assert detail["likely_cause"] is None
