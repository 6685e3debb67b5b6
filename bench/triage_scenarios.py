"""The labelled scenarios of ``bench/triage.py``: what changed before an alert, and the true cause.

Each scenario has services of its own (prefixed ``sNN-``), so scenarios never see each other's
changes. Its ``setup`` drives the world through a ``World`` (bench/triage.py): deploy events,
OpenLineage runs, MLflow registry webhooks and Kubernetes pod state, all placed in minutes
before the alert (negative: after it). ``expect`` is the true cause as the read API names it (a
suspect's ``ref``), or None when nothing related changed and no suspect should be named.

Most scenarios also carry a distractor: another team's deploy, unrelated to the alerting
service, a few minutes before the alert; it must never be named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

FIELDS = ["amount", "currency", "merchant", "country"]


class World(Protocol):
    def deploy(self, service: str, kind: str, version: str, minutes: float) -> None: ...

    def run(
        self,
        job: str,
        minutes: float,
        *,
        outputs: list[str],
        inputs: list[str] | None = None,
        rows: int = 100_000,
        fields: list[str] | None = None,
        state: str = "COMPLETE",
    ) -> None: ...

    def registry(self, entity: str, action: str, minutes: float, **data: Any) -> None: ...

    def rollout(self, service: str, image_tag: str, minutes: float) -> None: ...

    def oom(self, service: str, minutes: float, restarts: int = 3) -> None: ...


Setup = Callable[[World, str], None]  # (world, the scenario's service prefix)


@dataclass(frozen=True)
class Scenario:
    name: str
    covers: str  # which case of the list it is
    setup: Setup
    expect: Callable[[str], str | None]  # prefix → the expected top suspect's ref, or None
    # Catalog entries beyond the alerting service `{p}-scorer` (which always exists).
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    scorer: dict[str, Any] = field(default_factory=dict)  # extra fields of `{p}-scorer`


def distractor(w: World, p: str, minutes: float = 2) -> None:
    """Another team's deploy just before the alert: context, never the cause."""
    w.deploy(f"{p}-payments", "code", "9.1.0", minutes)


def history(w: World, p: str) -> None:
    """The scorer's dataset as it was two hours ago: the baseline later runs compare with."""
    w.run(f"{p}_features", 120, outputs=[f"{p}.features"], fields=FIELDS)


def _s01(w: World, p: str) -> None:
    w.deploy(f"{p}-scorer", "code", "2.3.1", 6)
    distractor(w, p)


def _s02(w: World, p: str) -> None:
    w.deploy(f"{p}-scorer", "code", "2.3.0", 120)
    w.deploy(f"{p}-scorer", "model", "1.4.2", 10)
    distractor(w, p)


def _s03(w: World, p: str) -> None:
    w.registry(
        "model_version_alias", "created", 90, name=f"{p}-model", alias="champion", version="7"
    )
    w.registry("model_version", "created", 20, name=f"{p}-model", version="8", source="s3://m/8")
    w.registry(
        "model_version_alias", "created", 12, name=f"{p}-model", alias="champion", version="8"
    )
    distractor(w, p, 3)


def _s04(w: World, p: str) -> None:
    w.registry("model_version", "created", 30, name=f"{p}-model", version="3", source="s3://m/3")
    w.deploy(f"{p}-scorer", "code", "5.0.1", 5)


def _s05(w: World, p: str) -> None:
    history(w, p)
    w.run(f"{p}_features", 20, outputs=[f"{p}.features"], fields=["amount", "merchant"])
    distractor(w, p, 4)


def _s06(w: World, p: str) -> None:
    history(w, p)
    w.run(f"{p}_features", 15, outputs=[f"{p}.features"], fields=FIELDS, rows=38_000)
    distractor(w, p)


def _s07(w: World, p: str) -> None:
    w.run(f"{p}_raw", 180, outputs=[f"{p}.raw"], fields=FIELDS)
    w.run(f"{p}_features", 170, inputs=[f"{p}.raw"], outputs=[f"{p}.features"], fields=FIELDS)
    w.run(f"{p}_raw", 25, outputs=[f"{p}.raw"], state="FAIL")
    distractor(w, p)


def _s08(w: World, p: str) -> None:
    # The code deploy 25 min before; pods OOMKilled right after it; a model version 10 min
    # before that, without the crashes, would otherwise rank first.
    w.rollout(f"{p}-scorer", "3.0.0", 25)
    w.deploy(f"{p}-scorer", "code", "3.0.0", 25)
    w.oom(f"{p}-scorer", 22)
    w.deploy(f"{p}-scorer", "model", "4.1.0", 10)


def _s09(w: World, p: str) -> None:
    w.deploy(f"{p}-features", "code", "7.2.0", 5)
    distractor(w, p)


def _s10(w: World, p: str) -> None:
    w.deploy(f"{p}-kafka", "code", "3.7.1", 6)
    distractor(w, p, 1)


def _s11(w: World, p: str) -> None:
    distractor(w, p, 3)
    w.deploy(f"{p}-checkout", "model", "2.0.0", 7)
    w.registry(
        "model_version_alias", "created", 5, name=f"{p}-other-model", alias="champion", version="2"
    )


def _s12(w: World, p: str) -> None:
    pass


def _s13(w: World, p: str) -> None:
    w.deploy(f"{p}-scorer", "code", "2.4.0", -1)  # a fix shipped after the alert started
    distractor(w, p)


def _s14(w: World, p: str) -> None:
    history(w, p)
    w.run(f"{p}_features", 30, outputs=[f"{p}.features"], fields=["amount", "currency", "merchant"])
    w.deploy(f"{p}-scorer", "model", "9.9.9", -2)  # after the alert: never the cause


def _s15(w: World, p: str) -> None:
    w.deploy(f"{p}-scorer", "code", "2.3.1", 8)
    w.deploy(f"{p}-features", "code", "7.3.0", 7)


def _s16(w: World, p: str) -> None:
    w.deploy(f"{p}-scorer", "model", "1.5.0", 9)
    w.deploy(f"{p}-payments", "code", "9.2.0", 8)
    w.deploy(f"{p}-checkout", "code", "1.0.1", 8)


def _s17(w: World, p: str) -> None:
    history(w, p)
    w.run(f"{p}_features", 30, outputs=[f"{p}.features"], fields=FIELDS, rows=30_000)
    w.registry(
        "model_version_alias", "created", 3, name=f"{p}-other-model", alias="champion", version="5"
    )


def _s18(w: World, p: str) -> None:
    w.run(f"{p}_user_features", 150, outputs=[f"{p}.user_features"], fields=FIELDS)
    w.run(f"{p}_user_features", 14, outputs=[f"{p}.user_features"], fields=["amount"])
    distractor(w, p)


def _s19(w: World, p: str) -> None:
    w.deploy(f"{p}-scorer", "code", "6.1.0", 9)
    w.rollout(f"{p}-scorer", "6.1.0", 9)
    distractor(w, p)


def _s20(w: World, p: str) -> None:
    w.rollout(f"{p}-scorer", "1.9.0", 10)
    distractor(w, p)


def _s21(w: World, p: str) -> None:
    w.deploy(f"{p}-scorer", "code", "1.0.0", 300)
    distractor(w, p, 1)


def _s22(w: World, p: str) -> None:
    w.deploy(f"{p}-scorer", "code", "2.0.0", 120)
    w.deploy(f"{p}-features", "code", "8.0.0", 4)


def _s23(w: World, p: str) -> None:
    w.run(f"{p}_raw", 200, outputs=[f"{p}.raw"], fields=FIELDS)
    w.run(f"{p}_features", 190, inputs=[f"{p}.raw"], outputs=[f"{p}.features"], fields=FIELDS)
    w.run(f"{p}_raw", 20, outputs=[f"{p}.raw"], fields=FIELDS, rows=30_000)
    w.deploy(f"{p}-scorer", "code", "2.0.1", 180)


def _s24(w: World, p: str) -> None:
    w.deploy(f"{p}-scorer", "code", "3.1.0", 40)
    w.registry(
        "model_version_alias", "created", 60, name=f"{p}-model", alias="champion", version="4"
    )
    w.registry(
        "model_version_alias", "created", 5, name=f"{p}-model", alias="champion", version="5"
    )


def _s25(w: World, p: str) -> None:
    # The crashes began after the model version and before the code deploy: the model version
    # gets the credit, not the later (and otherwise likelier) code deploy.
    w.deploy(f"{p}-scorer", "model", "2.2.0", 12)
    w.oom(f"{p}-scorer", 11)
    w.rollout(f"{p}-scorer", "4.0.0", 6)
    w.deploy(f"{p}-scorer", "code", "4.0.0", 6)


SCENARIOS: list[Scenario] = [
    Scenario("own code deploy", "a deploy", _s01, lambda p: f"{p}-scorer:2.3.1"),
    Scenario("model version from CI", "a model version (CI)", _s02, lambda p: f"{p}-model 1.4.2"),
    Scenario("registry alias moved", "a model version (registry)", _s03, lambda p: f"{p}-model 8"),
    Scenario(
        "new registry version vs deploy",
        "a model version (registry)",
        _s04,
        lambda p: f"{p}-scorer:5.0.1",
    ),
    Scenario("schema break", "a schema break", _s05, lambda p: f"{p}/{p}.features"),
    Scenario("row-count collapse", "a row-count collapse", _s06, lambda p: f"{p}/{p}.features"),
    Scenario("failed upstream run", "a failed upstream run", _s07, lambda p: f"{p}/{p}.raw"),
    Scenario("OOM after a deploy", "an OOM after a deploy", _s08, lambda p: f"{p}-scorer:3.0.0"),
    Scenario(
        "dependency deploy",
        "a dependency's deploy",
        _s09,
        lambda p: f"{p}-features:7.2.0",
        scorer={"depends_on": ["{p}-features"]},
    ),
    Scenario(
        "dependency two hops away",
        "a dependency's deploy",
        _s10,
        lambda p: f"{p}-kafka:3.7.1",
        services={"{p}-features": {"depends_on": ["{p}-kafka"]}},
        scorer={"depends_on": ["{p}-features"]},
    ),
    Scenario(
        "only unrelated changes",
        "nothing related changed",
        _s11,
        lambda p: None,
        services={"{p}-checkout": {"model": "{p}-checkout-model"}},
    ),
    Scenario("nothing at all", "nothing related changed", _s12, lambda p: None),
    Scenario("fix after the alert", "a change after the alert", _s13, lambda p: None),
    Scenario(
        "data before, model after", "a change after the alert", _s14, lambda p: f"{p}/{p}.features"
    ),
    Scenario(
        "own and dependency close together",
        "two changes close together",
        _s15,
        lambda p: f"{p}-scorer:2.3.1",
        scorer={"depends_on": ["{p}-features"]},
    ),
    Scenario(
        "own model among unrelated deploys",
        "two changes close together",
        _s16,
        lambda p: f"{p}-model 1.5.0",
    ),
    Scenario(
        "row collapse vs another model's alias",
        "a row-count collapse",
        _s17,
        lambda p: f"{p}/{p}.features",
        services={"{p}-checkout": {"model": "{p}-other-model"}},
    ),
    Scenario(
        "a dependency's dataset",
        "a schema break",
        _s18,
        lambda p: f"{p}/{p}.user_features",
        services={
            "{p}-features": {"datasets": [{"namespace": "{p}", "name": "{p}.user_features"}]}
        },
        scorer={"depends_on": ["{p}-features"]},
    ),
    Scenario(
        "deploy event and rollout are one change", "a deploy", _s19, lambda p: f"{p}-scorer:6.1.0"
    ),
    Scenario("rollout without a deploy event", "a deploy", _s20, lambda p: f"{p}-scorer:1.9.0"),
    Scenario(
        "an old own deploy vs a fresh unrelated one",
        "a deploy",
        _s21,
        lambda p: f"{p}-scorer:1.0.0",
    ),
    Scenario(
        "fresh dependency deploy vs an old own deploy",
        "a dependency's deploy",
        _s22,
        lambda p: f"{p}-features:8.0.0",
        scorer={"depends_on": ["{p}-features"]},
    ),
    Scenario(
        "upstream row collapse vs an old deploy",
        "a row-count collapse",
        _s23,
        lambda p: f"{p}/{p}.raw",
    ),
    Scenario(
        "alias moved after a code deploy",
        "two changes close together",
        _s24,
        lambda p: f"{p}-model 5",
    ),
    Scenario(
        "crashes before the deploy",
        "an OOM after a deploy",
        _s25,
        lambda p: f"{p}-model 2.2.0",
    ),
]
