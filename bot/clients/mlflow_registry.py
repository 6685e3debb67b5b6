"""The MLflow Model Registry adapter: MLflow's REST API 2.0 (``/api/2.0/mlflow/...``) over httpx,
read only, for the registry poller (``bot/registry/poller.py``).

    registered_models()   every registered model: its name, when it was created, its aliases
                          (``registered-models/search``, all pages)
    model_versions()      every model version: its number, when and by whom it was registered
                          (``user_id``, when MLflow has authentication), its tags
                          (``model-versions/search``, all pages)

Authentication: none, or ``MLFLOW_TRACKING_TOKEN`` sent as a bearer token (as MLflow's own
client does). Retries: a GET that timed out, could not connect, or was answered 429 or 5xx is
tried again, at most ``retries`` times, with exponential backoff and jitter (or after the wait
``Retry-After`` asks for, up to ``max_retry_wait_s``). Failures come back as
``ExternalServiceError("mlflow", operation, status, detail)``; ``status`` is None when no answer
came back. The detail never holds the token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.clients.retry_after import retry_after_s
from bot.errors import ExternalServiceError

if TYPE_CHECKING:
    import httpx
    from tenacity import RetryCallState

SYSTEM = "mlflow"
API_PREFIX = "/api/2.0/mlflow"
MODELS_PAGE = 1000  # registered-models/search allows at most 1000
VERSIONS_PAGE = 1000


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    created_ms: int  # epoch milliseconds, MLflow's clock
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> version


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: str
    created_ms: int
    user_id: str | None = None  # who registered it, when MLflow knows
    tags: dict[str, str] = field(default_factory=dict)


class RegistryReader(Protocol):
    def registered_models(self) -> list[RegisteredModel]: ...

    def model_versions(self) -> list[ModelVersion]: ...


# -- MLflow's JSON (the fields read; others ignored) -------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Alias(_Loose):
    alias: str
    version: str


class _Tag(_Loose):
    key: str
    value: str = ""


class _Model(_Loose):
    name: str
    creation_timestamp: int = 0
    aliases: list[_Alias] = Field(default_factory=list)


class _Version(_Loose):
    name: str
    version: str
    creation_timestamp: int = 0
    user_id: str | None = None
    tags: list[_Tag] = Field(default_factory=list)


class _ModelsPage(_Loose):
    registered_models: list[_Model] = Field(default_factory=list)
    next_page_token: str | None = None


class _VersionsPage(_Loose):
    model_versions: list[_Version] = Field(default_factory=list)
    next_page_token: str | None = None


P = TypeVar("P", _ModelsPage, _VersionsPage)


class MlflowRegistryClient:
    def __init__(
        self,
        tracking_uri: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        max_retry_wait_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        # httpx (with rich and click) and tenacity: ~0.2 s to import, paid by the first client.
        import httpx
        from tenacity import wait_exponential_jitter as backoff

        self.base_url = tracking_uri.rstrip("/") + API_PREFIX
        self.timeout_s = timeout_s
        self._retries = max(0, retries)
        self._max_wait = max_retry_wait_s
        self._sleep = sleep
        self._backoff = backoff(multiplier=0.5, max=max_retry_wait_s, jitter=0.5)
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- calls ----------------------------------------------------------------------------------

    def registered_models(self) -> list[RegisteredModel]:
        return [
            RegisteredModel(
                name=m.name,
                created_ms=m.creation_timestamp,
                aliases={a.alias: a.version for a in m.aliases},
            )
            for page in self._pages(
                "search_registered_models", "/registered-models/search", MODELS_PAGE, _ModelsPage
            )
            for m in page.registered_models
        ]

    def model_versions(self) -> list[ModelVersion]:
        return [
            ModelVersion(
                model=v.name,
                version=v.version,
                created_ms=v.creation_timestamp,
                user_id=v.user_id or None,
                tags={t.key: t.value for t in v.tags},
            )
            for page in self._pages(
                "search_model_versions", "/model-versions/search", VERSIONS_PAGE, _VersionsPage
            )
            for v in page.model_versions
        ]

    # -- plumbing -------------------------------------------------------------------------------

    def _pages(self, operation: str, path: str, size: int, shape: type[P]) -> Iterator[P]:
        token: str | None = None
        while True:
            params: dict[str, str | int] = {"max_results": size}
            if token:
                params["page_token"] = token
            answer = self._get(operation, path, params)
            try:
                page = shape.model_validate(answer)
            except ValidationError as exc:
                detail = f"{path}: unexpected answer: {exc.errors(include_url=False)[:1]}"
                raise ExternalServiceError(SYSTEM, operation, 200, detail) from None
            yield page
            token = page.next_page_token
            if not token:
                return

    def _get(self, operation: str, path: str, params: dict[str, str | int]) -> Any:
        import httpx
        from tenacity import Retrying, retry_if_exception

        retrying = Retrying(
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            sleep=self._sleep,
            reraise=True,
        )
        failure: ExternalServiceError | None = None
        try:
            response = retrying(self._send, path, params)
        except httpx.TimeoutException:
            detail = f"{path}: no answer from {self.base_url} within {self.timeout_s:g} s"
            failure = ExternalServiceError(SYSTEM, operation, None, detail)
        except httpx.HTTPError as exc:
            detail = f"{path}: cannot reach {self.base_url}: {type(exc).__name__}"
            failure = ExternalServiceError(SYSTEM, operation, None, detail)
        except _StatusError as exc:
            failure = ExternalServiceError(SYSTEM, operation, exc.status, f"{path}: {exc.detail}")
        if failure is not None:
            raise failure  # outside the except block: no __context__ holding the request
        try:
            return response.json()
        except ValueError:
            raise ExternalServiceError(
                SYSTEM, operation, response.status_code, f"{path}: the answer is not JSON"
            ) from None

    def _send(self, path: str, params: dict[str, str | int]) -> httpx.Response:
        response = self._http.get(path, params=params)
        if response.status_code >= 400:
            raise _StatusError(response)
        return response

    def _wait(self, state: RetryCallState) -> float:
        asked = _asked_wait(state)
        return asked if asked is not None else float(self._backoff(state))

    def _stop(self, state: RetryCallState) -> bool:
        from tenacity import stop_after_attempt

        if stop_after_attempt(self._retries + 1)(state):
            return True
        asked = _asked_wait(state)
        return asked is not None and asked > self._max_wait  # give up rather than wait that long


class _StatusError(Exception):
    """An HTTP error answer, with MLflow's own words (``{"error_code", "message"}``)."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.retry_after = retry_after_s(response.headers.get("retry-after"))
        words = response.reason_phrase
        try:
            body = response.json()
            if isinstance(body, dict) and body.get("message"):
                words = f"{body.get('error_code') or words}: {str(body['message'])[:200]}"
        except ValueError:
            pass
        if self.status in (401, 403):
            words = f"MLflow refused the credentials ({words}); check MLFLOW_TRACKING_TOKEN"
        self.detail = f"{self.status} {words}"
        super().__init__(self.detail)


def _retryable(exc: BaseException) -> bool:
    import httpx

    if isinstance(exc, httpx.TransportError):  # timeouts and failed connections
        return True
    return isinstance(exc, _StatusError) and (exc.status == 429 or exc.status >= 500)


def _asked_wait(state: RetryCallState) -> float | None:
    exc = state.outcome.exception() if state.outcome is not None else None
    return exc.retry_after if isinstance(exc, _StatusError) else None


__all__ = ["MlflowRegistryClient", "ModelVersion", "RegisteredModel", "RegistryReader"]
