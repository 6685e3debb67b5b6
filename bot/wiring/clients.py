"""The outside clients of one process, each where configured, built once."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.clients.ray import RayJobsClient
from bot.clients.set import Clients
from bot.config import Settings

if TYPE_CHECKING:
    from bot.clients.airflow import AirflowClient
    from bot.clients.alertmanager import AlertmanagerClient
    from bot.clients.kubernetes import KubeClient
    from bot.clients.llm import LLMClient
    from bot.clients.pagerduty import PagerDutyClient
    from bot.clients.prometheus import PromClient
    from bot.clients.slack_groups import SlackGroupResolver

log = logging.getLogger(__name__)

ACTION_TIMEOUT_S = 10.0  # a write is worth waiting for longer than an enrichment read
READER_MIN_TIMEOUT_S = 5.0  # summaries and triage read off the alert's hot path


def build_clients(settings: Settings, ray: RayJobsClient | None = None) -> Clients:
    """Kubernetes, Prometheus, PagerDuty, Airflow, Alertmanager and Ray (``ray``, or one from
    settings), with the timeout of a write. ``Clients.reads(timeout)`` gives the same clients
    for reads."""
    return Clients(
        kube=_kube(settings),
        prom=_prom(settings),
        pagerduty=_pagerduty(settings),
        airflow=_airflow(settings),
        ray=ray or ray_client(settings),
        alertmanager=_alertmanager(settings),
    )


def ray_client(settings: Settings) -> RayJobsClient:
    """The Ray job API at ``RAY_ADDRESS``; without it, a local head started on first use."""
    if settings.ray_address:
        address = settings.ray_address
        if not address.startswith(("http://", "https://")):
            # ray:// and bare host:port address the client server or GCS, not the job API.
            log.warning("RAY_ADDRESS %s is not the job API's http(s) URL; using it as is", address)
        return RayJobsClient(address, timeout_s=ACTION_TIMEOUT_S)
    from bot.jobs.local_head import LocalRayHead

    head = LocalRayHead(
        dashboard_port=settings.ray_local_dashboard_port, gcs_port=settings.ray_local_gcs_port
    )
    return RayJobsClient(head.address, timeout_s=ACTION_TIMEOUT_S, ensure=head.ensure)


def llm_client(settings: Settings) -> LLMClient | None:
    """The LLM summaries and triage use, or None: templates and deterministic answers."""
    key = settings.openai_api_key.get_secret_value().strip() if settings.openai_api_key else ""
    if not key:
        return None
    from bot.clients.llm import LLMClient  # the openai package: ~1 s to import

    return LLMClient(
        api_key=key,
        base_url=settings.openai_base_url or None,
        model=settings.llm_model,
        timeout_s=settings.llm_timeout_s,
    )


def group_resolver(settings: Settings) -> SlackGroupResolver | None:
    """Slack user groups named in the policy, resolved to their members (Slack only)."""
    if settings.slack_bot_token is None:
        return None
    from bot.clients.slack_groups import SlackGroupResolver

    return SlackGroupResolver(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)


def _kube(settings: Settings) -> KubeClient | None:
    from bot.clients.kubernetes import KubeClient

    if settings.kubeconfig is not None:
        return KubeClient.from_kubeconfig(str(settings.kubeconfig), timeout_s=ACTION_TIMEOUT_S)
    return KubeClient.from_environment(timeout_s=ACTION_TIMEOUT_S)


def _prom(settings: Settings) -> PromClient | None:
    if not settings.prometheus_url:
        return None
    from bot.clients.prometheus import PromClient

    return PromClient(settings.prometheus_url, timeout_s=ACTION_TIMEOUT_S)


def _pagerduty(settings: Settings) -> PagerDutyClient | None:
    if settings.pagerduty_api_token is None:
        return None
    if not settings.pagerduty_from:
        log.warning(
            "PAGERDUTY_API_TOKEN is set but OPSBOT_PAGERDUTY_FROM (the email of a PagerDuty "
            "user, sent as From on writes) is not: PagerDuty actions are off"
        )
        return None
    from bot.clients.pagerduty import PagerDutyClient

    return PagerDutyClient(
        settings.pagerduty_api_token.get_secret_value(),
        base_url=settings.pagerduty_api_url or "https://api.pagerduty.com",
        from_email=settings.pagerduty_from,
    )


def _alertmanager(settings: Settings) -> AlertmanagerClient | None:
    if not settings.alertmanager_url:
        return None
    from bot.clients.alertmanager import AlertmanagerClient

    return AlertmanagerClient(settings.alertmanager_url, timeout_s=ACTION_TIMEOUT_S)


def _airflow(settings: Settings) -> AirflowClient | None:
    if not settings.airflow_url:
        return None
    from bot.clients.airflow import AirflowClient

    password = settings.airflow_password
    return AirflowClient(
        settings.airflow_url,
        username=settings.airflow_username,
        password=password.get_secret_value() if password else None,
    )
