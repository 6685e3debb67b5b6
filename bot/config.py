"""Settings: environment variables (names as in ARCHITECTURE.md) and an optional opsbot.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.logs import LogFormat

DEFAULT_DATABASE_URL = "sqlite:///./opsbot.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Everything opsbot reads from its environment. Secrets are ``SecretStr`` and never logged."""

    model_config = SettingsConfigDict(
        extra="ignore",
        toml_file="opsbot.toml",
        populate_by_name=True,
    )

    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias=_env("OPSBOT_DATABASE_URL"))

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, validation_alias=_env("OPSBOT_SLACK_API_URL"))
    incident_channel: str | None = Field(None, validation_alias=_env("OPSBOT_INCIDENT_CHANNEL"))

    alertmanager_token: SecretStr | None = Field(
        None, validation_alias=_env("OPSBOT_ALERTMANAGER_TOKEN")
    )
    # Alertmanager's own API (``http://alertmanager:9093``), for silences made from a thread.
    alertmanager_url: str | None = Field(None, validation_alias=_env("OPSBOT_ALERTMANAGER_URL"))
    pagerduty_webhook_secret: SecretStr | None = Field(
        None, validation_alias=_env("PAGERDUTY_WEBHOOK_SECRET")
    )
    # MLflow Model Registry: the webhooks' signing secret (unset: /webhooks/mlflow refuses
    # all); the REST API polled when it cannot send webhooks (``OPSBOT_MLFLOW_POLL_S`` > 0),
    # with an optional bearer token.
    mlflow_webhook_secret: SecretStr | None = Field(
        None, validation_alias=_env("OPSBOT_MLFLOW_WEBHOOK_SECRET")
    )
    mlflow_tracking_uri: str | None = Field(
        None, pattern=r"^https?://", validation_alias=_env("OPSBOT_MLFLOW_TRACKING_URI")
    )
    mlflow_tracking_token: SecretStr | None = Field(
        None, validation_alias=_env("MLFLOW_TRACKING_TOKEN")
    )
    mlflow_poll_s: float = Field(0.0, ge=0, le=3600, validation_alias=_env("OPSBOT_MLFLOW_POLL_S"))
    pagerduty_api_token: SecretStr | None = Field(
        None, validation_alias=_env("PAGERDUTY_API_TOKEN")
    )
    pagerduty_api_url: str | None = Field(None, validation_alias=_env("OPSBOT_PAGERDUTY_API_URL"))
    # PagerDuty REST writes need the email of a PagerDuty user in the From header.
    pagerduty_from: str | None = Field(None, validation_alias=_env("OPSBOT_PAGERDUTY_FROM"))
    airflow_url: str | None = Field(None, validation_alias=_env("OPSBOT_AIRFLOW_URL"))
    airflow_username: str | None = Field(None, validation_alias=_env("OPSBOT_AIRFLOW_USERNAME"))
    airflow_password: SecretStr | None = Field(
        None, validation_alias=_env("OPSBOT_AIRFLOW_PASSWORD")
    )
    api_token: SecretStr | None = Field(None, validation_alias=_env("OPSBOT_API_TOKEN"))
    playbooks_dir: Path = Field(Path("./playbooks"), validation_alias=_env("OPSBOT_PLAYBOOKS_DIR"))
    services_file: Path = Field(
        Path("./services.yaml"), validation_alias=_env("OPSBOT_SERVICES_FILE")
    )
    prometheus_url: str | None = Field(None, validation_alias=_env("OPSBOT_PROMETHEUS_URL"))
    kubeconfig: Path | None = Field(None, validation_alias=_env("KUBECONFIG"))
    # Ray's job API (the dashboard). Unset: a local head, started on first use.
    ray_address: str | None = Field(None, validation_alias=_env("RAY_ADDRESS"))
    ray_local_dashboard_port: int = Field(
        8265, ge=1, le=65535, validation_alias=_env("OPSBOT_RAY_LOCAL_DASHBOARD_PORT")
    )
    ray_local_gcs_port: int = Field(
        6380, ge=1, le=65535, validation_alias=_env("OPSBOT_RAY_LOCAL_GCS_PORT")
    )

    # The LLM (summaries' narrative, triage on @mention). Unset key: templates only.
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    llm_model: str = Field("gpt-4o-mini", validation_alias=_env("OPSBOT_LLM_MODEL"))
    llm_timeout_s: float = Field(20.0, gt=0, le=300, validation_alias=_env("OPSBOT_LLM_TIMEOUT_S"))
    # Tokens (prompt + completion) one summary or one triage answer may spend, all calls together.
    llm_token_budget: int = Field(
        12000, ge=500, le=200000, validation_alias=_env("OPSBOT_LLM_TOKEN_BUDGET")
    )
    # A reaction with this emoji on a message in an incident thread adds it to the timeline.
    timeline_emoji: str = Field("pushpin", validation_alias=_env("OPSBOT_TIMELINE_EMOJI"))
    # Change failure rate: a deploy followed by an incident on its service within this window.
    change_failure_window_min: int = Field(
        360, ge=5, le=10080, validation_alias=_env("OPSBOT_CHANGE_FAILURE_WINDOW_MIN")
    )

    # Enrichment: every source gets its own deadline; a late source is reported, not waited for.
    enrich_timeout_s: float = Field(
        1.0, gt=0, le=30, validation_alias=_env("OPSBOT_ENRICH_TIMEOUT_S")
    )
    # How far back a change can be a suspect, and the metric window before the alert start.
    enrich_lookback_min: int = Field(
        360, ge=5, le=10080, validation_alias=_env("OPSBOT_ENRICH_LOOKBACK_MIN")
    )
    metrics_window_min: int = Field(
        60, ge=5, le=1440, validation_alias=_env("OPSBOT_METRICS_WINDOW_MIN")
    )
    # How often the datasets the catalog gives a `freshness` objective are checked (one replica
    # of the fleet checks; bot/incidents/freshness_loop.py); 0 turns the check off.
    freshness_check_s: float = Field(
        60.0, ge=0, le=3600, validation_alias=_env("OPSBOT_FRESHNESS_CHECK_S")
    )
    # Seconds after start before the chart's libraries load in the background, where a chart
    # can be drawn (bot/wiring/warm_up.py); 0: never, the first chart loads them.
    warm_up_s: float = Field(10.0, ge=0, le=3600, validation_alias=_env("OPSBOT_WARM_UP_S"))

    # Outbox tuning: Slack allows about one message per second per channel, with short bursts.
    slack_channel_rate: float = Field(1.0, validation_alias=_env("OPSBOT_SLACK_CHANNEL_RATE"))
    slack_channel_burst: int = Field(3, validation_alias=_env("OPSBOT_SLACK_CHANNEL_BURST"))
    slack_timeout_s: float = Field(10.0, validation_alias=_env("OPSBOT_SLACK_TIMEOUT_S"))
    # Alert storms: more roots waiting in a channel than it can take within this many seconds
    # get one message naming them all at once (bot/outbox/storm.py); 0 turns it off.
    storm_horizon_s: float = Field(
        1.0, ge=0, le=60, validation_alias=_env("OPSBOT_STORM_HORIZON_S")
    )
    # Webhook transactions running at once. A few keep the database busy; more only make Python
    # threads fight over the GIL while they hold row and advisory locks.
    db_concurrency: int = Field(4, ge=1, le=64, validation_alias=_env("OPSBOT_DB_CONCURRENCY"))
    max_body_bytes: int = Field(256 * 1024, validation_alias=_env("OPSBOT_MAX_BODY_BYTES"))
    log_level: str = Field("INFO", validation_alias=_env("OPSBOT_LOG_LEVEL"))
    # "json": one JSON object per line, with delivery/incident ids as fields (bot/logs.py).
    log_format: LogFormat = Field("text", validation_alias=_env("OPSBOT_LOG_FORMAT"))
    # At start, how long `opsbot serve` waits for a database that does not answer yet.
    db_wait_s: float = Field(60.0, ge=0, le=3600, validation_alias=_env("OPSBOT_DB_WAIT_S"))
    # SIGTERM: how long /readyz says "draining" while requests are still served (the load
    # balancer's time to stop sending here), then how long in-flight requests may take.
    drain_delay_s: float = Field(5.0, ge=0, le=120, validation_alias=_env("OPSBOT_DRAIN_DELAY_S"))
    shutdown_timeout_s: float = Field(
        20.0, gt=0, le=600, validation_alias=_env("OPSBOT_SHUTDOWN_TIMEOUT_S")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over opsbot.toml; init kwargs (tests) win over both.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def slack_enabled(self) -> bool:
        """Slack transport when a bot token is set; otherwise the console transport."""
        return self.slack_bot_token is not None

    @property
    def socket_mode(self) -> bool:
        return self.slack_enabled and self.slack_app_token is not None

    def redacted(self) -> dict[str, Any]:
        return {k: ("***" if isinstance(v, SecretStr) else v) for k, v in self}
