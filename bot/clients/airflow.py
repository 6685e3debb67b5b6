"""The Airflow adapter: Airflow 2's stable REST API (``/api/v1``) over httpx.

Only what ``rerun_pipeline`` needs: read a DAG (is it there, is it paused), trigger a DAG run
with a chosen ``dag_run_id`` and ``conf``, read a DAG run. Authentication is basic (the
``basic_auth`` API backend) or a bearer token.

A triggered run's id is chosen by the caller, so a retry is safe: Airflow answers 409 for a
``dag_run_id`` it has, and ``trigger_dag_run`` then returns the existing run, marked
``already_existed``. Nothing is retried here: a POST that timed out may have landed, and the
caller's retry finds it by its id.

Failures come back as ``ExternalServiceError("airflow", operation, status, detail)`` with
Airflow's own words (its errors are ``application/problem+json``: ``title``, ``detail``,
``status``, ``type``); ``status`` is None when no answer came back.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote

from bot.errors import ExternalServiceError

if TYPE_CHECKING:
    import httpx

SYSTEM = "airflow"
API_PREFIX = "/api/v1"

Json = dict[str, Any]


class AirflowClient:
    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx  # with rich and click: ~0.2 s to import, paid by the first client built

        root = base_url.rstrip("/")
        if not root.endswith(API_PREFIX):
            root += API_PREFIX
        self.base_url = root
        self.timeout_s = timeout_s
        headers = {"Accept": "application/json"}
        auth: httpx.Auth | None = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif username is not None:
            auth = httpx.BasicAuth(username, password or "")
        self._http = httpx.Client(
            base_url=root,
            auth=auth,
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

    def get_dag(self, dag_id: str) -> Json:
        """The DAG (``is_paused``, ``is_active``, ...); 404 when Airflow does not know it."""
        return self._request("get_dag", f"DAG {dag_id}", "GET", f"/dags/{_seg(dag_id)}")

    def trigger_dag_run(
        self,
        dag_id: str,
        dag_run_id: str,
        conf: dict[str, Any] | None = None,
        *,
        logical_date: str | None = None,
    ) -> Json:
        """Trigger a run with this id. The DAGRun comes back with ``already_existed``: False
        for a new run, True when Airflow had a run with this id already (a retry)."""
        body: Json = {"dag_run_id": dag_run_id, "conf": dict(conf or {})}
        if logical_date is not None:
            body["logical_date"] = logical_date
        target = f"DAG run {dag_id}/{dag_run_id}"
        try:
            run = self._request(
                "trigger_dag_run", target, "POST", f"/dags/{_seg(dag_id)}/dagRuns", json=body
            )
        except ExternalServiceError as exc:
            if exc.status != 409:
                raise
            try:
                existing = self.get_dag_run(dag_id, dag_run_id)
            except ExternalServiceError as again:
                if again.status == 404:  # the 409 was for the logical date, not the id
                    raise exc from None
                raise
            return {**existing, "already_existed": True}
        return {**run, "already_existed": False}

    def get_dag_run(self, dag_id: str, dag_run_id: str) -> Json:
        return self._request(
            "get_dag_run",
            f"DAG run {dag_id}/{dag_run_id}",
            "GET",
            f"/dags/{_seg(dag_id)}/dagRuns/{_seg(dag_run_id)}",
        )

    # -- plumbing -------------------------------------------------------------------------------

    def _request(self, operation: str, target: str, method: str, path: str, **kw: Any) -> Json:
        import httpx

        try:
            response = self._http.request(method, path, **kw)
        except httpx.TimeoutException as exc:
            detail = f"{target}: no answer from {self.base_url} within {self.timeout_s:g}s"
            raise ExternalServiceError(SYSTEM, operation, None, detail) from exc
        except httpx.HTTPError as exc:
            detail = f"{target}: cannot reach {self.base_url}: {type(exc).__name__}: {exc}"
            raise ExternalServiceError(SYSTEM, operation, None, detail) from exc
        if response.status_code >= 400:
            raise ExternalServiceError(
                SYSTEM, operation, response.status_code, self._detail(target, response)
            )
        try:
            answer = response.json()
        except ValueError as exc:
            raise ExternalServiceError(
                SYSTEM, operation, response.status_code, f"{target}: the answer is not JSON"
            ) from exc
        if not isinstance(answer, dict):
            raise ExternalServiceError(
                SYSTEM, operation, response.status_code, f"{target}: the answer is not an object"
            )
        return answer

    def _detail(self, target: str, response: httpx.Response) -> str:
        status = response.status_code
        if status == 401:
            return f"the Airflow API at {self.base_url} refused the credentials (401 Unauthorized)"
        title = detail = ""
        try:
            problem = response.json()
            if isinstance(problem, dict):
                title = str(problem.get("title") or "")
                detail = str(problem.get("detail") or "")
        except ValueError:
            detail = response.text[:200]
        words = ": ".join(part for part in (title, detail) if part) or response.reason_phrase
        if status == 403:
            return f"not allowed: {words}"
        return f"{target}: {status} {words}"


def _seg(value: str) -> str:
    """One path segment, escaped (run ids carry ``:`` and ``+``)."""
    return quote(value, safe="")


__all__ = ["AirflowClient"]
