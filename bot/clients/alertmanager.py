"""The Alertmanager adapter: its API v2 (``/api/v2``) over httpx, for silences made from a thread.

    create_silence(matchers, starts_at, ends_at, created_by, comment) -> id   POST /silences
    get_silence(id) -> SilenceInfo                                         GET /silence/{id}
    list_silences(matching) -> [SilenceInfo]                               GET /silences
    expire_silence(id)                                                     DELETE /silence/{id}
    alerts(matching) -> [AlertInfo]                                        GET /alerts

``matching`` is a set of equality matchers (label name → value), sent as Alertmanager's
``filter`` (``name="value"``, quoted as its matcher parser reads them). A silence listed with a
filter has at least those matchers (it may have more); alerts listed with one carry those labels.
Alertmanager keeps an expired silence (``state: expired``) for its retention, 120 h by default,
so the list also answers "did I make this one already?" after it ended.

Alertmanager has no idempotency key: a POST that timed out may have made a silence. Nothing is
retried here; the caller marks what it creates (the comment) and looks before it creates again.

Failures come back as ``ExternalServiceError("alertmanager", operation, status, detail)`` with
Alertmanager's own words (a JSON string, or ``{"code", "message"}`` for a request its schema
refuses); ``status`` is None when no answer came back. Alertmanager 0.25 answers an unknown id
with 404 on GET but 500 ``silence not found`` on DELETE: that one is reported as a 404 too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from bot.errors import ExternalServiceError

if TYPE_CHECKING:
    import httpx

SYSTEM = "alertmanager"
API_PREFIX = "/api/v2"
DETAIL_MAX = 500
# Alertmanager's silence ids are UUIDs (its API refuses anything else with a 422).
SILENCE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_NOT_FOUND = "silence not found"

Json = dict[str, Any]


@dataclass(frozen=True)
class Matcher:
    """One matcher of a silence, as Alertmanager stores it (opsbot makes equality ones only)."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def as_json(self) -> Json:
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }


@dataclass(frozen=True)
class SilenceInfo:
    """A silence as Alertmanager has it now: ``state`` is active, pending or expired."""

    id: str
    state: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def equality_matchers(self) -> dict[str, str] | None:
        """Its matchers as label → value, or None when one is not a plain equality."""
        if any(m.is_regex or not m.is_equal for m in self.matchers):
            return None
        return {m.name: m.value for m in self.matchers}


@dataclass(frozen=True)
class AlertInfo:
    """An alert Alertmanager holds: ``state`` is active, suppressed or unprocessed."""

    fingerprint: str
    labels: dict[str, str]
    state: str
    starts_at: datetime
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()


def filter_matchers(matching: Mapping[str, str]) -> list[str]:
    """``{"service": 'a"b'}`` → ``['service="a\\"b"']``: Alertmanager's ``filter`` values."""
    return [f'{name}="{_quote(value)}"' for name, value in matching.items()]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def check_silence_id(silence_id: str) -> str:
    if not SILENCE_ID.match(silence_id):
        raise ValueError(f"not an Alertmanager silence id (a UUID): {silence_id!r}")
    return silence_id


class AlertmanagerClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        import httpx  # with rich and click: ~0.2 s to import, paid by the first client built

        root = base_url.rstrip("/")
        if root.endswith(API_PREFIX):
            root = root.removesuffix(API_PREFIX)
        self.base_url = root  # what people open: the UI is here, the API under /api/v2
        self.timeout_s = timeout_s
        self._http = httpx.Client(
            base_url=root + API_PREFIX,
            headers={"Accept": "application/json"},
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

    # -- silences -------------------------------------------------------------------------------

    def create_silence(
        self,
        matchers: Mapping[str, str],
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """A new silence of equality ``matchers``; its id. Alertmanager moves a start in the
        past to now, and refuses an end that is past or not after the start."""
        body = {
            "matchers": [Matcher(name, value).as_json() for name, value in matchers.items()],
            "startsAt": _iso(starts_at),
            "endsAt": _iso(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        answer = self._call("create_silence", "POST", "/silences", json=body)
        if not isinstance(answer, dict) or not isinstance(answer.get("silenceID"), str):
            raise ExternalServiceError(SYSTEM, "create_silence", 200, f"no silenceID: {answer!r}")
        return str(answer["silenceID"])

    def get_silence(self, silence_id: str) -> SilenceInfo:
        """The silence, in any state; ``ExternalServiceError`` with status 404 if unknown."""
        path = f"/silence/{check_silence_id(silence_id)}"
        return _silence(self._call("get_silence", "GET", path), "get_silence")

    def list_silences(self, matching: Mapping[str, str] | None = None) -> list[SilenceInfo]:
        """Every silence Alertmanager keeps (expired ones too, for its retention), or those that
        have at least the ``matching`` equality matchers."""
        params = [("filter", f) for f in filter_matchers(matching or {})]
        found = self._call("list_silences", "GET", "/silences", params=params)
        if not isinstance(found, list):
            raise ExternalServiceError(SYSTEM, "list_silences", 200, f"not a list: {found!r:.200}")
        return [_silence(item, "list_silences") for item in found]

    def expire_silence(self, silence_id: str) -> None:
        """End the silence now. An expired one is expired again without complaint; an unknown
        one is a 404."""
        path = f"/silence/{check_silence_id(silence_id)}"
        try:
            self._call("expire_silence", "DELETE", path)
        except ExternalServiceError as exc:
            if exc.status == 500 and exc.detail == _NOT_FOUND:  # Alertmanager 0.25
                raise ExternalServiceError(SYSTEM, "expire_silence", 404, exc.detail) from exc
            raise

    # -- alerts ---------------------------------------------------------------------------------

    def alerts(self, matching: Mapping[str, str]) -> list[AlertInfo]:
        """The alerts Alertmanager holds that carry ``matching``'s labels: firing ones, silenced
        or inhibited ones included (``state`` says which)."""
        params = [("filter", f) for f in filter_matchers(matching)]
        found = self._call("alerts", "GET", "/alerts", params=params)
        if not isinstance(found, list):
            raise ExternalServiceError(SYSTEM, "alerts", 200, f"not a list: {found!r:.200}")
        return [_alert(item) for item in found]

    # -- plumbing -------------------------------------------------------------------------------

    def _call(self, op: str, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ExternalServiceError(SYSTEM, op, None, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise ExternalServiceError(SYSTEM, op, response.status_code, _detail(response))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            detail = f"not JSON: {response.text[:DETAIL_MAX]}"
            raise ExternalServiceError(SYSTEM, op, response.status_code, detail) from exc


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError(f"a silence's times need a timezone: {at!r}")
    return at.isoformat()


def _detail(response: httpx.Response) -> str:
    """Alertmanager's message: a JSON string, ``{"message": ...}``, or the text."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict) and "message" in body:
        body = body["message"]
    text = body if isinstance(body, str) else str(body)
    if not text.strip():
        text = response.reason_phrase or f"HTTP {response.status_code}"
    return text.strip()[:DETAIL_MAX]


def _time(value: Any, op: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ExternalServiceError(SYSTEM, op, 200, f"not a time: {value!r:.100}") from exc


def _silence(item: Any, op: str) -> SilenceInfo:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise ExternalServiceError(SYSTEM, op, 200, f"not a silence: {item!r:.200}")
    matchers = tuple(
        Matcher(
            name=str(m.get("name", "")),
            value=str(m.get("value", "")),
            is_regex=bool(m.get("isRegex", False)),
            is_equal=bool(m.get("isEqual", True)),
        )
        for m in item.get("matchers") or []
        if isinstance(m, dict)
    )
    return SilenceInfo(
        id=item["id"],
        state=str((item.get("status") or {}).get("state", "")),
        matchers=matchers,
        starts_at=_time(item.get("startsAt"), op),
        ends_at=_time(item.get("endsAt"), op),
        created_by=str(item.get("createdBy", "")),
        comment=str(item.get("comment", "")),
    )


def _alert(item: Any) -> AlertInfo:
    if not isinstance(item, dict):
        raise ExternalServiceError(SYSTEM, "alerts", 200, f"not an alert: {item!r:.200}")
    status = item.get("status") or {}
    return AlertInfo(
        fingerprint=str(item.get("fingerprint", "")),
        labels={str(k): str(v) for k, v in (item.get("labels") or {}).items()},
        state=str(status.get("state", "")),
        starts_at=_time(item.get("startsAt"), "alerts"),
        silenced_by=tuple(str(s) for s in status.get("silencedBy") or []),
        inhibited_by=tuple(str(s) for s in status.get("inhibitedBy") or []),
    )
