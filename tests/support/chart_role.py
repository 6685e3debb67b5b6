"""The Role the Helm chart grants, as the Kubernetes API fake enforces it.

The chart is rendered once per test session (``helm template``, with the catalog of
examples/services.yaml, whose policy allows ml-serving and ml-batch), and its Roles and
ClusterRoles become the fake's ``Grants``: the suites that drive opsbot's real code against
``chart_kube_fake()`` pass only if the chart grants every verb the code uses.

``OPSBOT_TEST_ROLE_WITHOUT=verb:resource.group`` (e.g. ``patch:deployments/scale.apps``) takes
one permission away, for the proof that each one is needed (tests/deploy/test_chart_role_proof.py);
``OPSBOT_TEST_FORBIDDEN_LOG=<file>`` collects what the fakes refused.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from tests.deploy.helm_tools import ROOT, Manifest, of_kind, render
from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.kubernetes.rbac import Grants, Permission, Rule, without

WITHOUT_ENV = "OPSBOT_TEST_ROLE_WITHOUT"
FORBIDDEN_LOG_ENV = "OPSBOT_TEST_FORBIDDEN_LOG"  # the fakes append each refused request here
EXAMPLE_CATALOG = ROOT / "examples" / "services.yaml"


@functools.cache
def rendered_chart() -> tuple[Manifest, ...]:
    """The chart as the RBAC proof renders it: default values, the example catalog."""
    catalog = yaml.safe_load(EXAMPLE_CATALOG.read_text())
    with tempfile.TemporaryDirectory(prefix="opsbot-chart-") as scratch:
        values = Path(scratch) / "catalog-values.yaml"
        values.write_text(yaml.safe_dump({"catalog": catalog}))
        return tuple(render(values=[values]))


def role_rules(objects: Sequence[Manifest]) -> dict[str, list[Rule]]:
    """The rules of each rendered Role, by namespace."""
    return {
        role["metadata"]["namespace"]: [Rule.from_manifest(r) for r in role["rules"]]
        for role in of_kind(objects, "Role")
    }


def granted(objects: Sequence[Manifest]) -> set[Permission]:
    """Every (apiGroup, resource, verb) any rendered Role or ClusterRole grants."""
    rules = [r for rs in role_rules(objects).values() for r in rs]
    rules += [Rule.from_manifest(r) for c in of_kind(objects, "ClusterRole") for r in c["rules"]]
    return set().union(*(r.permissions() for r in rules))


def removed_permission() -> Permission | None:
    text = os.environ.get(WITHOUT_ENV, "").strip()
    return Permission.parse(text) if text else None


@functools.cache
def chart_grants() -> Grants:
    """What the chart grants the bot (less ``OPSBOT_TEST_ROLE_WITHOUT``, when set)."""
    objects = rendered_chart()
    namespaced = role_rules(objects)
    cluster = [Rule.from_manifest(r) for c in of_kind(objects, "ClusterRole") for r in c["rules"]]
    removed = removed_permission()
    if removed is not None:
        if removed not in granted(objects):
            raise ValueError(f"{WITHOUT_ENV}={removed}: the chart does not grant it")
        namespaced = {ns: without(rules, removed) for ns, rules in namespaced.items()}
        cluster = without(cluster, removed)
    return Grants({ns: tuple(rules) for ns, rules in namespaced.items()}, tuple(cluster))


def kube_fake(grants: Grants | None) -> KubeApiFake:
    """A Kubernetes API fake that allows ``grants`` (``None``: everything); what it refuses also
    goes to ``OPSBOT_TEST_FORBIDDEN_LOG`` when that is set."""
    log = os.environ.get(FORBIDDEN_LOG_ENV)
    return KubeApiFake(grants=grants, forbidden_log=Path(log) if log else None)


def chart_kube_fake() -> KubeApiFake:
    """A Kubernetes API fake that allows exactly what the chart's Roles allow (the ``kube``
    fixture's default, tests/conftest.py)."""
    return kube_fake(chart_grants())
