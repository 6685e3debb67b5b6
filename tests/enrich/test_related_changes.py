"""Only related changes are suspects, end to end: a Backstage catalog-info.yaml as the catalog, a
dependency's deploy named, another team's deploy a minute before the alert shown as context."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from tests.enrich.conftest import ago, running_bot
from tests.fakes.slack.api import SlackEmulator

CATALOG_INFO = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: fraud-scorer
  annotations:
    opsbot/model: fraud-model
    opsbot/channel: C0FRAUD
spec:
  type: service
  owner: group:team-fraud
  lifecycle: production
  consumesApis: [api:features-api]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: feature-store
spec:
  type: service
  owner: team-features
  lifecycle: production
  providesApis: [features-api]
  dependsOn: [component:kafka]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: features-api
spec:
  type: grpc
  owner: team-features
  lifecycle: production
  definition: "syntax = 'proto3';"
"""


async def test_a_dependencys_deploy_is_the_suspect_and_another_teams_is_context(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator
) -> None:
    (tmp_path / "catalog-info.yaml").write_text(CATALOG_INFO)
    async with running_bot(
        sqlite_url,
        tmp_path,
        slack,
        services_file=tmp_path / "catalog-info.yaml",
        prometheus_url=None,
    ) as bot:
        start = ago(seconds=30)
        await bot.deploy(
            service="feature-store",
            kind="code",
            version="7.2.0",
            timestamp=start - timedelta(minutes=9),
        )
        await bot.deploy(
            service="kafka", kind="code", version="3.7.1", timestamp=start - timedelta(minutes=40)
        )
        await bot.deploy(
            service="payments", kind="code", version="9.1.0", timestamp=start - timedelta(minutes=1)
        )
        incident_id = await bot.alert(start, service="fraud-scorer")
        outcome = await bot.enrich(incident_id)

        assert [(s.ref, s.relation) for s in outcome.suspects] == [
            ("feature-store:7.2.0", "dependency"),
            ("kafka:3.7.1", "dependency"),  # two hops: through feature-store
        ]
        assert outcome.suspects[0].reason == (
            "dependency feature-store: feature-store:7.2.0 deployed 9 min before the alert"
        )
        assert outcome.suspects[1].reason.startswith("dependency kafka, 2 hops away: ")

        root = slack.roots("C0FRAUD")[0]  # the channel named by the Backstage annotation
        assert "Likely cause:* dependency feature-store" in json.dumps(root["blocks"])
        body = json.dumps(slack.replies("C0FRAUD", root["ts"])[-1]["blocks"])
        related, elsewhere = body.split("Elsewhere")
        assert "feature-store:7.2.0 deployed by" not in elsewhere
        assert "payments:9.1.0 deployed" in elsewhere
        assert "payments" not in related

        detail = await bot.incident(incident_id)
        assert [s["ref"] for s in detail["suspects"]] == ["feature-store:7.2.0", "kafka:3.7.1"]
        changes = detail["enrichment"]["suspects"]["data"]["changes"]
        assert {c["ref"]: c["relation"] for c in changes} == {
            "feature-store:7.2.0": "dependency",
            "kafka:3.7.1": "dependency",
            "payments:9.1.0": "other_service",
        }
