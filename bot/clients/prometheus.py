"""The Prometheus adapter: the only place opsbot meets ``prometheus_api_client``.

``PromClient.query_range`` returns one number per instant for a PromQL expression, and every
failure (refused, timed out, an HTTP error with Prometheus's own ``error`` text) comes back as
``ExternalServiceError("prometheus", "query_range", status, detail)``. ``PromClient.rules`` reads
the rules Prometheus evaluates (``GET /api/v1/rules``: groups → rules, each ``alerting`` or
``recording`` with its ``query``) as ``PromRule``s; its failures are
``ExternalServiceError("prometheus", "rules", status, detail)``.

Timeouts: prometheus-api-client 0.7.2 takes ``timeout=`` (seconds) in ``PrometheusConnect`` and
hands it to every ``requests`` call; without it requests waits forever. ``requests`` applies it
to the connect and to each socket read separately, so it bounds a hung server, not a server
that trickles bytes. Prometheus is also told the same ``timeout`` as a query parameter, so it
abandons a slow evaluation itself (503, ``errorType: timeout``). The library's default adapter
retries 3 times with 1 s backoff, on connection errors and on 408/429/5xx, which turns a 2 s
timeout into ~14 s; it is replaced by one that never retries: a failed enrichment is reported
and can be run again, and a hung Prometheus must not hold an incident up.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from bot.errors import ExternalServiceError

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

SYSTEM = "prometheus"
DETAIL_MAX = 500
# prometheus-api-client's message for a non-200 answer: "HTTP Status Code 400 (b'{...}')"
_STATUS_MESSAGE = re.compile(r"^HTTP Status Code (\d+) \((b(['\"]).*\3)\)$", re.DOTALL)


RuleKind = Literal["alerting", "recording"]


@dataclass(frozen=True)
class PromRule:
    """One rule Prometheus evaluates: an alert's name or the series a recording rule writes."""

    group: str
    name: str
    kind: RuleKind
    query: str  # the expression as Prometheus prints it after parsing


class PromClient:
    """Range queries against one Prometheus (``url`` like ``http://prometheus:9090``)."""

    def __init__(self, url: str, *, timeout_s: float = 2.0) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        # requests and the library: ~0.3 s to import, paid by the first client built.
        from prometheus_api_client.prometheus_connect import PrometheusConnect
        from urllib3.util.retry import Retry

        # Retry(0): the first connection error, read error or status is final (see the module
        # docstring); raise_on_status=False hands a 5xx back as a response, so the library
        # raises PrometheusApiClientException with Prometheus's body, as for a 4xx.
        no_retry = Retry(total=0, redirect=0, raise_on_status=False)
        options: dict[str, Any] = {"timeout": timeout_s}  # typed ``int`` there, a float works
        self._prom = PrometheusConnect(url=self.url, disable_ssl=True, retry=no_retry, **options)
        self._derived: list[PromClient] = []  # from with_timeout(), closed with this one

    def with_timeout(self, timeout_s: float) -> PromClient:
        """The same Prometheus with ``timeout_s`` per query (and told to Prometheus), on its own
        connection pool, which this client's ``close`` also closes."""
        derived = PromClient(self.url, timeout_s=timeout_s)
        self._derived.append(derived)
        return derived

    def query_range(
        self, query: str, start: datetime, end: datetime, step_s: float
    ) -> list[tuple[float, float]]:
        """``(unix seconds, value)`` points of ``query`` from ``start`` to ``end``, time-ordered.

        A catalog signal is one number per instant: when the query returns several series
        (one per pod, say) they are summed point by point; at an instant where only some
        series have a sample, the sum is of those. NaN and ±Inf samples are dropped (an error
        ratio with no traffic is NaN). No series at all gives ``[]``. ``start`` and ``end``
        must be timezone-aware; the library rounds them to whole seconds.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("query_range needs timezone-aware start and end")
        if step_s <= 0:
            raise ValueError(f"step_s must be positive, got {step_s}")
        import requests
        from prometheus_api_client.exceptions import PrometheusApiClientException

        try:
            result = self._prom.custom_query_range(
                query,
                start_time=start,
                end_time=end,
                step=f"{step_s:g}",
                params={"timeout": f"{self.timeout_s:g}s"},
            )
        except PrometheusApiClientException as exc:
            status, detail = _http_error(str(exc))
            raise self._error(status, f"{detail} (query: {_short(query)})") from exc
        except (requests.JSONDecodeError, KeyError, TypeError) as exc:  # a 200, not Prometheus's
            raise self._error(200, f"unexpected answer from {self.url}: {exc!r}") from exc
        except requests.RequestException as exc:
            raise self._error(None, self._transport_detail(exc)) from exc
        try:
            return _sum_series(result)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise self._error(200, f"unexpected result shape from {self.url}: {exc!r}") from exc

    def rules(self) -> list[PromRule]:
        """Every alerting and recording rule Prometheus has loaded, group by group (``GET
        /api/v1/rules``), within ``timeout_s``; no retry, as for queries."""
        import requests

        try:
            response = requests.get(f"{self.url}/api/v1/rules", timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise self._error(None, self._transport_detail(exc), "rules") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200:
            if isinstance(payload, dict) and payload.get("error"):
                detail = f"{payload.get('errorType', 'error')}: {payload['error']}"
            else:
                detail = f"HTTP {response.status_code}: {response.text.strip()[:200]}"
            raise self._error(response.status_code, detail, "rules")
        try:
            return _rules(payload)
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"unexpected rules answer from {self.url}: {exc!r}"
            raise self._error(200, detail, "rules") from exc

    def _transport_detail(self, exc: requests.RequestException) -> str:
        """Why no HTTP answer came back. With retries off, requests reports a read timeout as a
        ``ConnectionError`` wrapping urllib3's ``MaxRetryError``: look at what it wraps."""
        import requests
        import urllib3

        reason: Any = exc.args[0] if exc.args else exc
        reason = getattr(reason, "reason", reason)  # MaxRetryError -> ReadTimeoutError, ...
        text = str(reason)[:200]
        # NewConnectionError (refused, no route) subclasses ConnectTimeoutError: test it first.
        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            return f"cannot connect to {self.url}: {text}"
        if isinstance(exc, requests.Timeout) or isinstance(reason, urllib3.exceptions.TimeoutError):
            return f"no answer within {self.timeout_s:g} s from {self.url} ({text})"
        if isinstance(exc, requests.ConnectionError):
            return f"cannot connect to {self.url}: {text}"
        return f"request to {self.url} failed: {text}"

    def close(self) -> None:
        for derived in self._derived:
            derived.close()
        self._prom.close()

    def _error(
        self, status: int | None, detail: str, operation: str = "query_range"
    ) -> ExternalServiceError:
        log.warning("prometheus %s failed (%s): %s", operation, status, detail)
        return ExternalServiceError(SYSTEM, operation, status, detail[:DETAIL_MAX])


def _rules(payload: Any) -> list[PromRule]:
    """``{"status": "success", "data": {"groups": [{"name", "rules": [...]}]}}`` → rules."""
    if payload["status"] != "success":
        raise ValueError(f"status {payload['status']!r}")
    found = []
    for group in payload["data"]["groups"]:
        for rule in group["rules"]:
            kind = rule["type"]
            if kind not in ("alerting", "recording"):
                raise ValueError(f"rule type {kind!r}")
            found.append(PromRule(str(group["name"]), str(rule["name"]), kind, str(rule["query"])))
    return found


def _sum_series(result: Any) -> list[tuple[float, float]]:
    """Sum a matrix result (``[{"metric": ..., "values": [[ts, "v"], ...]}, ...]``) per instant."""
    totals: dict[float, float] = {}
    for series in result:
        for ts, raw in series["values"]:
            value = float(raw)
            if math.isfinite(value):
                t = float(ts)
                totals[t] = totals.get(t, 0.0) + value
    return sorted(totals.items())


def _http_error(message: str) -> tuple[int | None, str]:
    """Status and Prometheus's own ``errorType: error`` out of the library's exception text."""
    match = _STATUS_MESSAGE.match(message)
    if match is None:
        return None, message
    status = int(match.group(1))
    try:
        body = ast.literal_eval(match.group(2))
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    except (ValueError, SyntaxError):
        return status, message
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("error"):
        kind = payload.get("errorType")
        return status, f"{kind}: {payload['error']}" if kind else str(payload["error"])
    return status, f"HTTP {status}: {text.strip()[:200] or '(empty body)'}"


def _short(query: str) -> str:
    return query if len(query) <= 200 else f"{query[:197]}..."
