"""The Ray adapter: the job API of a Ray cluster (its dashboard, ``RAY_ADDRESS``).

Jobs go through Ray's own ``JobSubmissionClient``; the cluster's resources come from the
dashboard's state API (``GET /api/v0/nodes``), which the SDK has no method for. The SDK sets no
timeout on its HTTP calls, so each call runs in a worker thread with a deadline here: a cluster
that does not answer is an ``ExternalServiceError("ray", operation, None, …)``, not a hang.

A submit names its ``submission_id``. Ray refuses a second job with the same id ("already
exists"); ``submit`` then returns the job that has it, marked ``adopted``, so a retried submit
never starts a second job.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from bot.errors import ExternalServiceError

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

log = logging.getLogger(__name__)

SYSTEM = "ray"
T = TypeVar("T")
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="ray-api")


@dataclass(frozen=True)
class ClusterResources:
    cpus: float
    gpus: float
    memory_gb: float
    nodes: int

    def describe(self) -> str:
        gpus = f"{self.gpus:g} GPU" + ("s" if self.gpus != 1 else "")
        return f"{self.nodes} node(s), {self.cpus:g} CPUs, {gpus}, {self.memory_gb:.0f} GB memory"


@dataclass(frozen=True)
class RayJob:
    submission_id: str
    status: str  # Ray's: PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED
    message: str
    entrypoint: str
    start_time: datetime | None
    end_time: datetime | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class Submitted:
    job: RayJob
    adopted: bool  # the id was already on the cluster: this is that job, nothing new started


def _time(ms: Any) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if isinstance(ms, int | float) and ms else None


class RayJobsClient:
    def __init__(
        self,
        address: str,
        *,
        timeout_s: float = 10.0,
        ensure: Callable[[], None] | None = None,
    ) -> None:
        self.address = address.rstrip("/")
        self.timeout_s = timeout_s
        # Called before the cluster is first asked for its resources (every job starts with
        # that): the embedded default starts a local head there (bot/jobs/local_head.py).
        self.ensure = ensure
        self._sdk: JobSubmissionClient | None = None

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, operation: str, fn: Callable[[JobSubmissionClient], T]) -> T:
        def run() -> T:
            return fn(self._client())

        future = _POOL.submit(run)
        try:
            return future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            raise ExternalServiceError(
                SYSTEM, operation, None, f"no answer from {self.address} in {self.timeout_s:g} s"
            ) from None
        except ExternalServiceError:
            raise
        except Exception as exc:  # the SDK raises RuntimeError / ConnectionError with its text
            raise ExternalServiceError(SYSTEM, operation, _status(exc), _detail(exc)) from exc

    def _client(self) -> JobSubmissionClient:
        if self._sdk is None:
            from ray.job_submission import JobSubmissionClient

            self._sdk = JobSubmissionClient(self.address)
        return self._sdk

    # -- reads -----------------------------------------------------------------------------

    def cluster(self) -> ClusterResources:
        """What the cluster's alive nodes have in all (not what is free right now)."""
        if self.ensure is not None:
            self.ensure()
        # Through the SDK's own request helper, so the cluster's auth (RAY_AUTH_MODE=token),
        # cookies and TLS settings apply exactly as they do to the job calls.
        response = self._call(
            "cluster",
            lambda c: c._do_request("GET", "/api/v0/nodes?limit=10000&detail=true"),
        )
        if response.status_code != 200:
            raise ExternalServiceError(SYSTEM, "cluster", response.status_code, response.text[:300])
        try:
            nodes = response.json()["data"]["result"]["result"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ExternalServiceError(SYSTEM, "cluster", 200, f"unexpected answer: {exc}") from exc
        alive = [n for n in nodes if isinstance(n, dict) and n.get("state") == "ALIVE"]
        total: dict[str, float] = {}
        for node in alive:
            for key, value in (node.get("resources_total") or {}).items():
                if isinstance(value, int | float):
                    total[key] = total.get(key, 0.0) + float(value)
        return ClusterResources(
            cpus=total.get("CPU", 0.0),
            gpus=total.get("GPU", 0.0),
            memory_gb=total.get("memory", 0.0) / 1e9,
            nodes=len(alive),
        )

    def job(self, submission_id: str) -> RayJob | None:
        """The job with this id, or None when the cluster has none."""
        try:
            info = self._call("job", lambda c: c.get_job_info(submission_id))
        except ExternalServiceError as exc:
            if exc.status == 404 or "does not exist" in exc.detail:
                return None
            raise
        return _job(submission_id, info)

    def jobs(self) -> list[RayJob]:
        infos = self._call("jobs", lambda c: c.list_jobs())
        return [_job(str(i.submission_id), i) for i in infos if i.submission_id]

    def logs(self, submission_id: str) -> str:
        return self._call("logs", lambda c: c.get_job_logs(submission_id))

    # -- writes ----------------------------------------------------------------------------

    def submit(
        self,
        submission_id: str,
        entrypoint: str,
        *,
        runtime_env: dict[str, Any] | None = None,
        memory_bytes: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Submitted:
        try:
            self._call(
                "submit",
                lambda c: c.submit_job(
                    entrypoint=entrypoint,
                    submission_id=submission_id,
                    runtime_env=_runtime_env(runtime_env),
                    entrypoint_num_cpus=0,
                    entrypoint_memory=memory_bytes,
                    metadata=metadata,
                ),
            )
        except ExternalServiceError as exc:
            # "already exists", or a submit whose answer was lost: the id tells.
            existing = self.job(submission_id)
            if existing is None:
                raise
            log.info("ray job %s already exists (%s); adopting it", submission_id, exc.detail[:80])
            return Submitted(existing, adopted=True)
        found = self.job(submission_id)
        if found is None:
            raise ExternalServiceError(SYSTEM, "submit", None, f"{submission_id} vanished")
        return Submitted(found, adopted=False)

    def stop(self, submission_id: str) -> bool:
        """Ask Ray to stop the job; False when it had already ended."""
        return bool(self._call("stop", lambda c: c.stop_job(submission_id)))


def _runtime_env(given: dict[str, Any] | None) -> dict[str, Any]:
    """The template's runtime_env, with Ray's `uv run` detection off for the driver: opsbot may
    itself run under `uv run`, and the job must not re-create a venv from opsbot's checkout."""
    env = dict(given or {})
    env_vars = dict(env.get("env_vars") or {})
    env_vars.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    env["env_vars"] = env_vars
    return env


def _job(submission_id: str, info: Any) -> RayJob:
    status = getattr(info.status, "value", info.status)
    return RayJob(
        submission_id=submission_id,
        status=str(status),
        message=str(info.message or ""),
        entrypoint=str(info.entrypoint or ""),
        start_time=_time(info.start_time),
        end_time=_time(info.end_time),
        metadata=dict(info.metadata or {}),
    )


def _status(exc: Exception) -> int | None:
    text = str(exc)
    marker = "status code "
    if marker in text:
        digits = text.split(marker, 1)[1][:3]
        if digits.isdigit():
            return int(digits)
    return None


def _detail(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [line for line in text.splitlines() if line.strip()]
    # Ray puts a server-side traceback in the message: its last line says what went wrong.
    return (lines[-1] if len(lines) > 1 else text)[:500]
