"""Run events built with the real ``openlineage-python`` classes and sent by its real HTTP
transport to opsbot's ``POST /api/v1/lineage``: what a pipeline's OpenLineage integration sends."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import error_message_run
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

PRODUCER = "https://github.com/acme/pipelines"
Key = tuple[str, str]


def lineage_client(url: str, api_key: str) -> OpenLineageClient:
    """The real client over its real HTTP transport, with ``api_key`` auth (Bearer)."""
    transport = HttpTransport(HttpConfig(url=url, auth=ApiKeyTokenProvider({"apiKey": api_key})))
    return OpenLineageClient(transport=transport)


def run(
    job: Key,
    ended: datetime,
    *,
    state: RunState = RunState.COMPLETE,
    inputs: Sequence[Key] = (),
    outputs: Sequence[Key] = (),
    error: str | None = None,
    minutes: int = 10,
) -> tuple[str, list[RunEvent]]:
    """A run of ``job`` that started ``minutes`` before ``ended`` and ended in ``state`` (or, for
    START/RUNNING, is still going): its id and its events, START first."""
    run_id = str(uuid.uuid4())
    ins = [InputDataset(namespace=ns, name=name) for ns, name in inputs]
    outs = [OutputDataset(namespace=ns, name=name) for ns, name in outputs]
    facets: dict[str, Any] = {}
    if error is not None:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage="python"
        )
    the_job = Job(namespace=job[0], name=job[1])
    start = RunEvent(
        eventType=RunState.START,
        eventTime=(ended - timedelta(minutes=minutes)).isoformat(),
        run=Run(runId=run_id),
        job=the_job,
        producer=PRODUCER,
        inputs=ins,
        outputs=outs,
    )
    if state in (RunState.START, RunState.RUNNING):
        return run_id, [start]
    end = RunEvent(
        eventType=state,
        eventTime=ended.isoformat(),
        run=Run(runId=run_id, facets=facets),
        job=the_job,
        producer=PRODUCER,
        inputs=ins,
        # A failed run's last event often names no outputs; a completed one names them again.
        outputs=outs if state == RunState.COMPLETE else [],
    )
    return run_id, [start, end]


def emit(client: OpenLineageClient, events: Sequence[RunEvent]) -> None:
    for event in events:
        client.emit(event)
