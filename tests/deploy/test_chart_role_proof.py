"""The chart's Role is least privilege, proven: without any single permission it grants, a named
test of opsbot's real code fails, and the Kubernetes API fake refused exactly that permission.

The action, enrichment, runner, web and chat suites run against ``chart_kube_fake()``, which
allows exactly what the rendered Role allows (tests/support/chart_role.py), so they prove that
nothing is missing. This module proves that nothing is superfluous: for each (apiGroup, resource,
verb) in ``NEEDED_BY`` it runs the named test in a subprocess with
``OPSBOT_TEST_ROLE_WITHOUT=<permission>`` and expects a failure, and it checks that the table
names every permission the chart grants, no more and no fewer. A control run with the whole Role
shows the named tests pass when nothing is taken away.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.helm_tools import ROOT
from tests.fakes.kubernetes.rbac import Permission
from tests.support.chart_role import FORBIDDEN_LOG_ENV, WITHOUT_ENV, granted, rendered_chart

ROLLBACK = "tests/actions/test_rollback.py"
SCALE = "tests/actions/test_scale.py"
RERUN = "tests/actions/test_rerun_pipeline.py"
RESTART = "tests/actions/test_restart.py"
ENRICH = "tests/enrich/test_enrichment_thread.py"
CANARY = "tests/actions/test_canary_traffic.py"
ARGO = "tests/actions/test_argo_rollouts.py"
WORKLOAD = (
    "tests/enrich/test_workload_thread.py"
    "::test_pods_oom_killed_after_a_deploy_are_evidence_and_shown_in_the_thread"
)

# Each permission the chart grants, and a test of opsbot's code that needs it.
NEEDED_BY: dict[str, str] = {
    "get:deployments.apps": (
        f"{RESTART}::test_restart_sets_restarted_at_from_the_plan_and_rolls_once"
    ),
    "patch:deployments.apps": (
        f"{ROLLBACK}::test_to_revision_1_rolls_back_to_its_template_reusing_its_replicaset"
    ),
    "list:replicasets.apps": (
        f"{ENRICH}::test_the_thread_shows_what_changed_and_the_ranked_suspects"
    ),
    # The workload source: its pods (the OOMKilled evidence), their Warning events (the merged
    # lines in the thread) and the crashed container's previous log (the code block).
    "list:pods": WORKLOAD,
    "list:events": WORKLOAD,
    "get:pods/log": WORKLOAD,
    "get:deployments/scale.apps": (
        f"{SCALE}::test_the_same_count_is_a_noop_and_apply_writes_nothing"
    ),
    "patch:deployments/scale.apps": (
        f"{SCALE}::test_scale_patches_the_scale_subresource_with_the_planned_resource_version"
    ),
    "list:horizontalpodautoscalers.autoscaling": f"{SCALE}::test_applying_twice_scales_once",
    "patch:horizontalpodautoscalers.autoscaling": (
        f"{SCALE}::test_an_hpa_owned_deployment_gets_its_hpa_patched_not_its_scale"
    ),
    "get:cronjobs.batch": f"{RERUN}::test_plan_names_the_job_from_the_pipeline_and_the_key",
    "create:jobs.batch": (
        f"{RERUN}::test_a_cronjob_pipeline_runs_one_job_like_kubectl_and_follows_it"
    ),
    "get:jobs.batch": f"{RERUN}::test_a_retry_with_the_same_key_adopts_the_job_it_started",
    "get:inferenceservices.serving.kserve.io": (
        f"{CANARY}::test_plan_shows_the_split_and_pins_the_object_without_writing"
    ),
    "patch:inferenceservices.serving.kserve.io": (
        f"{CANARY}::test_apply_sends_every_request_back_once_with_a_merge_patch"
    ),
    "get:rollouts.argoproj.io": f"{ARGO}::test_undo_defaults_to_the_revision_before_the_newest",
    "patch:rollouts.argoproj.io": (
        f"{ARGO}::test_undo_json_patches_the_pinned_revision_template_once"
    ),
    "patch:rollouts/status.argoproj.io": (
        f"{ARGO}::test_abort_patches_the_status_subresource_once"
    ),
}


# Plugins the named tests do not use, off to save a second of start-up per run.
QUIET_PLUGINS = ["-p", "no:cacheprovider", "-p", "no:langsmith_plugin", "-p", "no:hypothesispytest"]


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    refused: list[str]
    seconds: float


def run_tests(nodeids: list[str], without: str, scratch: Path) -> Run:
    log = scratch / f"forbidden-{without.replace('/', '_').replace(':', '_') or 'none'}.log"
    env = {**os.environ, WITHOUT_ENV: without, FORBIDDEN_LOG_ENV: str(log)}
    argv = [sys.executable, "-m", "pytest", "-q", "-x", *QUIET_PLUGINS, *nodeids]
    start = time.monotonic()
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    refused = log.read_text().splitlines() if log.exists() else []
    output = result.stdout + result.stderr
    return Run(result.returncode, output, refused, time.monotonic() - start)


def test_the_table_names_every_permission_the_chart_grants() -> None:
    table = {Permission.parse(p) for p in NEEDED_BY}
    assert table == granted(rendered_chart())


def test_without_any_single_permission_its_named_test_fails(tmp_path: Path) -> None:
    jobs = {p: [nodeid] for p, nodeid in NEEDED_BY.items()}
    jobs[""] = sorted(set(NEEDED_BY.values()))  # the control: the whole Role
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        futures = {p: pool.submit(run_tests, ids, p, tmp_path) for p, ids in jobs.items()}
        runs = {p: f.result() for p, f in futures.items()}

    control = runs.pop("")
    assert control.returncode == 0, f"the named tests fail with the whole Role:\n{control.output}"
    assert control.refused == [], control.refused
    problems = []
    for permission, run in sorted(runs.items()):
        p = Permission.parse(permission)
        wanted = f"{p.verb} {p.resource}.{p.api_group}"
        if run.returncode != 1:
            problems.append(f"{permission}: {NEEDED_BY[permission]} exited {run.returncode}")
        elif not any(line.startswith(wanted) for line in run.refused):
            problems.append(f"{permission}: failed, but the fake never refused it: {run.refused}")
    if problems:
        details = "\n".join(f"--- {p}\n{runs[p].output[-2000:]}" for p in sorted(runs))
        pytest.fail("\n".join(problems) + "\n" + details)
