"""The registry of executable actions that playbooks, buttons and commands call.

The list below is the whole set: an action is a class in its own module, and it is callable
once it is named here. A playbook step naming an action that is not registered is invalid.
Nothing imports this module back, so importing one action never loads the others.
"""

from __future__ import annotations

from typing import Any

from actions.alertmanager_silence import ExpireSilence, SilenceAlerts
from actions.argo_rollouts import AbortRollout, PromoteRollout
from actions.argo_undo import UndoRollout
from actions.base import Action
from actions.check_metric import CheckMetric
from actions.follow_ups import CompleteFollowUp
from actions.incident_moves import DeclareIncident, PostStatusUpdate, SetLead, SetSeverity
from actions.k8s_restart import RestartDeployment
from actions.k8s_rollback import RollbackDeployment
from actions.k8s_scale import ScaleDeployment
from actions.k8s_wait import WaitForRollout
from actions.kserve_canary import CanaryTraffic, PromoteCanary
from actions.pagerduty_actions import (
    AcknowledgePagerDutyIncident,
    AddPagerDutyNote,
    ResolvePagerDutyIncident,
)
from actions.pagerduty_page import PageService
from actions.pagerduty_responders import RequestResponders
from actions.post_message import PostMessage
from actions.ray_job_actions import StopRayJob, SubmitRayJob
from actions.rerun_pipeline import RerunPipeline

BUILT_IN: tuple[type[Action[Any]], ...] = (
    RollbackDeployment,
    ScaleDeployment,
    RestartDeployment,
    WaitForRollout,
    CanaryTraffic,
    PromoteCanary,
    AbortRollout,
    PromoteRollout,
    UndoRollout,
    RerunPipeline,
    CheckMetric,
    AcknowledgePagerDutyIncident,
    ResolvePagerDutyIncident,
    AddPagerDutyNote,
    PageService,
    RequestResponders,
    PostMessage,
    SubmitRayJob,
    StopRayJob,
    SilenceAlerts,
    ExpireSilence,
    DeclareIncident,
    SetSeverity,
    SetLead,
    PostStatusUpdate,
    CompleteFollowUp,
)


def _registry(classes: tuple[type[Action[Any]], ...]) -> dict[str, Action[Any]]:
    registry: dict[str, Action[Any]] = {}
    for cls in classes:
        if cls.name in registry:
            raise ValueError(f"action {cls.name!r} registered twice")
        registry[cls.name] = cls()
    return registry


REGISTRY: dict[str, Action[Any]] = _registry(BUILT_IN)


def get(name: str) -> Action[Any] | None:
    return REGISTRY.get(name)


def known_actions() -> set[str]:
    return set(REGISTRY)
