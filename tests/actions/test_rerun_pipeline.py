"""``rerun_pipeline`` against the Kubernetes and Airflow fakes: one Job or DAG run per run key,
adopted on retry, followed to success, failure or the pipeline's timeout."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from actions.base import ActionContext, ActionFailed, ActionRefused
from actions.registry import REGISTRY
from actions.rerun_pipeline import INSTANTIATE, POLL_S, RerunPipeline, job_name
from bot.catalog.model import Pipeline
from bot.clients.airflow import AirflowClient
from tests.actions.conftest import NS, FakeClock
from tests.fakes.airflow.api import AirflowApiFake
from tests.fakes.kubernetes.api import KubeApiFake

CRON = "features-nightly"
DAG = "features_daily"
JOBS_PATH = f"/apis/batch/v1/namespaces/{NS}/jobs"
PIPELINES = {
    "features": Pipeline(
        name="features", kind="cronjob", namespace=NS, cronjob=CRON, timeout_s=600
    ),
    "features-dag": Pipeline(
        name="features-dag", kind="airflow", dag_id=DAG, conf={"full": True}, timeout_s=600
    ),
}
action = RerunPipeline()


def params(pipeline: str = "features", **extra: Any) -> Any:
    return action.parse({"pipeline": pipeline, **extra})


@pytest.fixture
def cronjob(kube: KubeApiFake) -> dict[str, Any]:
    return kube.create(
        "cronjobs",
        NS,
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": CRON},
            "spec": {
                "schedule": "0 3 * * *",
                "jobTemplate": {
                    "metadata": {
                        "labels": {"pipeline": "features"},
                        "annotations": {"team": "data-platform"},
                    },
                    "spec": {
                        "backoffLimit": 2,
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{"name": "build", "image": "reg/features:7"}],
                            }
                        },
                    },
                },
            },
        },
    )


@pytest.fixture
def ctx(make_ctx: Callable[..., ActionContext]) -> ActionContext:
    return make_ctx(pipelines=PIPELINES)


def posts(kube: KubeApiFake) -> list[tuple[str, str, str | None]]:
    return [r for r in kube.requests if r[0] == "POST"]


# -- CronJob pipelines --------------------------------------------------------------------------


def test_registered_and_params_forbid_extras() -> None:
    assert isinstance(REGISTRY["rerun_pipeline"], RerunPipeline)
    with pytest.raises(ValidationError):
        params(namespace="x")


def test_job_names_are_deterministic_dns_labels() -> None:
    assert job_name(CRON, "0123456789abcdef") == f"{CRON}-rerun-01234567"
    long = job_name("a" * 52, "f" * 64)
    assert len(long) == 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", long)
    assert job_name("Nightly.Features", "ab" * 32) == "nightly-features-rerun-abababab"


def test_plan_names_the_job_from_the_pipeline_and_the_key(
    kube: KubeApiFake,
    cronjob: dict[str, Any],
    ctx: ActionContext,
    make_ctx: Callable[..., ActionContext],
) -> None:
    kube.clear_requests()
    plan = action.plan(ctx, params())
    name = plan.pinned["job"]

    assert re.fullmatch(rf"{CRON}-rerun-[0-9a-f]{{8}}", name)
    assert plan.summary == (
        f"Rerun pipeline features: start Job {NS}/{name} from CronJob {CRON}, and follow it "
        "(up to 10min)"
    )
    assert action.plan(ctx, params()).pinned["job"] == name
    other = make_ctx(pipelines=PIPELINES, key="run-2")
    assert action.plan(other, params()).pinned["job"] != name
    assert [r[0] for r in kube.requests] == ["GET"] * len(kube.requests)
    assert action.target(ctx, params()).namespace == NS


def test_a_cronjob_pipeline_runs_one_job_like_kubectl_and_follows_it(
    kube: KubeApiFake, cronjob: dict[str, Any], ctx: ActionContext, clock: FakeClock
) -> None:
    plan = action.plan(ctx, params())
    name = plan.pinned["job"]
    clock.on_sleep = lambda n: kube.finish_job(NS, name) if n == 2 else None

    result = action.apply(ctx, params(), plan)

    assert result.ok
    assert result.summary == f"Pipeline features: Job {NS}/{name} succeeded"
    assert (result.data["state"], result.data["adopted"]) == ("succeeded", False)
    assert clock.sleeps == [POLL_S, POLL_S]
    job = kube.job(NS, name)
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "CronJob",
        CRON,
        cronjob["metadata"]["uid"],
        True,
    )
    notes = job["metadata"]["annotations"]
    assert notes[INSTANTIATE] == "manual"
    assert notes["team"] == "data-platform"
    assert notes["opsbot/pipeline"] == "features"
    assert job["metadata"]["labels"]["pipeline"] == "features"
    assert job["spec"]["backoffLimit"] == 2
    assert [j["metadata"]["name"] for j in kube.jobs(NS)] == [name]


@pytest.mark.usefixtures("cronjob")
def test_a_retry_with_the_same_key_adopts_the_job_it_started(
    kube: KubeApiFake, ctx: ActionContext
) -> None:
    plan = action.plan(ctx, params(wait=False))
    kube.clear_requests()

    first = action.apply(ctx, params(wait=False), plan)
    uid = kube.job(NS, plan.pinned["job"])["metadata"]["uid"]
    replanned = action.plan(ctx, params(wait=False))  # after a restart: same key, same name
    second = action.apply(ctx, params(wait=False), replanned)

    assert first.data["adopted"] is False
    assert second.data["adopted"] is True
    assert "started earlier by this run" in second.summary
    assert [(m, p) for m, p, _ in posts(kube)] == [("POST", JOBS_PATH)] * 2  # 201, then 409
    assert len(kube.jobs(NS)) == 1
    assert kube.job(NS, plan.pinned["job"])["metadata"]["uid"] == uid
    assert any("exists already" in line for line in replanned.lines)


@pytest.mark.parametrize("made_by", ["someone", "kubectl", "another opsbot run"])
def test_a_job_of_that_name_not_made_by_this_run_is_refused(
    kube: KubeApiFake, cronjob: dict[str, Any], ctx: ActionContext, made_by: str
) -> None:
    plan = action.plan(ctx, params())
    meta: dict[str, Any] = {"name": plan.pinned["job"]}
    if made_by != "someone":  # kubectl create job --from=cronjob/...: owner and annotation
        meta["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": CRON,
                "uid": cronjob["metadata"]["uid"],
                "controller": True,
            }
        ]
        meta["annotations"] = {INSTANTIATE: "manual"}
    if made_by == "another opsbot run":
        meta["annotations"].update({"opsbot/pipeline": "features", "opsbot/run-key": "0" * 16})
    template = {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "x", "image": "reg/x:1"}]}
    }
    kube.create("jobs", NS, {"metadata": meta, "spec": {"template": template}})

    with pytest.raises(ActionRefused, match="was not started by opsbot"):
        action.apply(ctx, params(), plan)
    assert len(kube.jobs(NS)) == 1


@pytest.mark.usefixtures("cronjob")
def test_a_failed_job_fails_the_action(
    kube: KubeApiFake, ctx: ActionContext, clock: FakeClock
) -> None:
    plan = action.plan(ctx, params())
    clock.on_sleep = lambda n: kube.finish_job(NS, plan.pinned["job"], succeeded=False)

    with pytest.raises(ActionFailed, match="failed: BackoffLimitExceeded"):
        action.apply(ctx, params(), plan)


@pytest.mark.usefixtures("cronjob")
def test_a_job_still_running_at_the_timeout_fails_and_is_left_running(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext], clock: FakeClock
) -> None:
    short = Pipeline(name="features", kind="cronjob", namespace=NS, cronjob=CRON, timeout_s=12)
    ctx = make_ctx(pipelines={"features": short})
    plan = action.plan(ctx, params())

    with pytest.raises(ActionFailed, match=r"has not finished within 12s \(active 1"):
        action.apply(ctx, params(), plan)
    assert clock.sleeps == [5, 5, 2]
    assert kube.job(NS, plan.pinned["job"])["status"]["active"] == 1


@pytest.mark.usefixtures("cronjob")
def test_a_job_that_completes_at_once_needs_no_sleep(
    kube: KubeApiFake, ctx: ActionContext, clock: FakeClock
) -> None:
    kube.auto_complete_jobs()
    result = action.apply(ctx, params(), action.plan(ctx, params()))
    assert result.data["state"] == "succeeded"
    assert result.data["completion_time"] is not None
    assert clock.sleeps == []


def test_unknown_pipelines_and_missing_cronjobs_are_refused(ctx: ActionContext) -> None:
    assert action.target(ctx, params("nope")).resource == "pipeline/nope"  # never raises
    with pytest.raises(ActionRefused, match="unknown pipeline 'nope'; known pipelines: features"):
        action.plan(ctx, params("nope"))
    with pytest.raises(ActionRefused, match=f"CronJob {NS}/{CRON} of pipeline features not found"):
        action.plan(ctx, params())


@pytest.mark.usefixtures("cronjob")
def test_without_a_key_the_plan_pins_a_name_of_its_own(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext], clock: FakeClock
) -> None:
    ctx = make_ctx(pipelines=PIPELINES, key="")
    plan = action.plan(ctx, params(wait=False))
    clock.now = clock.now.replace(hour=10)
    later = action.plan(ctx, params(wait=False))
    assert later.pinned["job"] != plan.pinned["job"]
    action.apply(ctx, params(wait=False), plan)
    assert [j["metadata"]["name"] for j in kube.jobs(NS)] == [plan.pinned["job"]]


# -- Airflow pipelines --------------------------------------------------------------------------


@pytest.fixture
def dag_ctx(
    make_ctx: Callable[..., ActionContext], airflow: AirflowClient, airflow_fake: AirflowApiFake
) -> ActionContext:
    airflow_fake.add_dag(DAG)
    return make_ctx(pipelines=PIPELINES, airflow=airflow)


def test_an_airflow_pipeline_triggers_one_run_with_its_conf_and_follows_it(
    airflow_fake: AirflowApiFake, dag_ctx: ActionContext, clock: FakeClock
) -> None:
    plan = action.plan(dag_ctx, params("features-dag"))
    run_id = plan.pinned["dag_run_id"]
    assert re.fullmatch(r"opsbot__[0-9a-f]{16}", run_id)
    assert plan.summary == (
        f"Rerun pipeline features-dag: trigger Airflow DAG {DAG} (run {run_id}), and follow it "
        "(up to 10min)"
    )
    assert airflow_fake.runs(DAG) == []  # plan() triggers nothing
    airflow_fake.auto_progress("success")

    result = action.apply(dag_ctx, params("features-dag"), plan)

    assert result.ok
    assert result.summary == f"Pipeline features-dag: DAG run {DAG}/{run_id} succeeded"
    assert result.data["adopted"] is False
    assert result.data["end_date"] is not None
    (run,) = airflow_fake.runs(DAG)
    assert (run["dag_run_id"], run["conf"], run["state"]) == (run_id, {"full": True}, "success")
    assert clock.sleeps == [POLL_S]  # queued → running (sleep) → success


def test_an_airflow_retry_with_the_same_key_adopts_the_run(
    airflow_fake: AirflowApiFake, dag_ctx: ActionContext
) -> None:
    plan = action.plan(dag_ctx, params("features-dag", wait=False))
    first = action.apply(dag_ctx, params("features-dag", wait=False), plan)
    second = action.apply(dag_ctx, params("features-dag", wait=False), plan)

    assert (first.data["adopted"], second.data["adopted"]) == (False, True)
    assert len(airflow_fake.runs(DAG)) == 1
    statuses = [s for m, _, s in airflow_fake.requests if m == "POST"]
    assert statuses == [200, 409]


def test_a_failed_dag_run_fails_the_action(
    airflow_fake: AirflowApiFake, dag_ctx: ActionContext
) -> None:
    airflow_fake.auto_progress("failed")
    plan = action.plan(dag_ctx, params("features-dag"))
    with pytest.raises(ActionFailed, match=f"DAG run {DAG}/opsbot__[0-9a-f]+ failed"):
        action.apply(dag_ctx, params("features-dag"), plan)


def test_a_dag_run_still_queued_at_the_timeout_fails(
    make_ctx: Callable[..., ActionContext],
    airflow: AirflowClient,
    airflow_fake: AirflowApiFake,
    clock: FakeClock,
) -> None:
    airflow_fake.add_dag(DAG)
    short = Pipeline(name="features-dag", kind="airflow", dag_id=DAG, timeout_s=10)
    ctx = make_ctx(pipelines={"features-dag": short}, airflow=airflow)
    with pytest.raises(ActionFailed, match=r"has not finished within 10s \(queued\)"):
        action.apply(ctx, params("features-dag"), action.plan(ctx, params("features-dag")))
    assert clock.sleeps == [5, 5]


def test_airflow_refusals_not_configured_unknown_or_paused_dag(
    make_ctx: Callable[..., ActionContext],
    airflow: AirflowClient,
    airflow_fake: AirflowApiFake,
) -> None:
    no_airflow = make_ctx(pipelines=PIPELINES)
    with pytest.raises(ActionRefused, match=r"^Airflow is not configured$"):
        action.plan(no_airflow, params("features-dag"))
    ctx = make_ctx(pipelines=PIPELINES, airflow=airflow)
    with pytest.raises(ActionRefused, match=f"Airflow has no DAG {DAG}"):
        action.plan(ctx, params("features-dag"))
    airflow_fake.add_dag(DAG, paused=True)
    with pytest.raises(ActionRefused, match="is paused in Airflow: a run would stay queued"):
        action.plan(ctx, params("features-dag"))
    assert action.target(ctx, params("features-dag")).namespace is None
