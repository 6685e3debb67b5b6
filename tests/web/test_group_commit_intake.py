"""Group commit through ``POST /webhooks/alertmanager``: deliveries sent together are stored
together, each answered for itself; one the database refuses gets its 400 and its neighbours
their 200, with nothing of the refused one left behind (its writes rolled back)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DataError
from sqlmodel import Session, select

from bot.incidents import alertmanager_flow
from bot.store.models import Alert
from tests.support.asgi import AM_TOKEN, asgi_client, engine_of
from tests.support.payloads import am_alert, am_payload
from tests.web.test_content_refusals import API_TOKEN, encoded

AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
REFUSED_SERVICE = "refused-scorer"


async def test_a_refused_delivery_among_concurrent_ones_fails_alone(
    make_app: Callable[..., FastAPI], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = alertmanager_flow.ingest

    def ingest(session: Session, payload: Any, *args: Any, **kwargs: Any) -> Any:
        result = real(session, payload, *args, **kwargs)  # writes its incident and alerts ...
        if payload.commonLabels.get("service") == REFUSED_SERVICE:
            # ... then the database refuses a value: all of that must be rolled back.
            raise DataError("INSERT ...", {}, Exception("value too long"))
        return result

    monkeypatch.setattr(alertmanager_flow, "ingest", ingest)
    services = [f"svc-{n}" for n in range(30)]
    services.insert(15, REFUSED_SERVICE)
    app = make_app(database_url=db_url, api_token=API_TOKEN)
    async with asgi_client(app) as client:
        committer = app.state.runtime.committer
        answers = await asyncio.gather(
            *(
                client.post(
                    "/webhooks/alertmanager",
                    content=encoded(am_payload(s, [am_alert(s, 1)])),
                    headers=AM,
                )
                for s in services
            )
        )
        codes = {s: r.status_code for s, r in zip(services, answers, strict=True)}
        assert codes.pop(REFUSED_SERVICE) == 400
        assert set(codes.values()) == {200}
        assert "cannot be stored" in answers[15].json()["error"]
        opened = [r.json()["incidents"]["opened"] for r in answers if r.status_code == 200]
        assert sum(len(o) for o in opened) == 30  # each got its own incident, exactly

        with Session(engine_of(client)) as session:
            stored = {a.labels["service"] for a in session.exec(select(Alert)).all()}
        assert stored == set(services) - {REFUSED_SERVICE}
        assert committer.stats.largest > 1  # they did share transactions
        assert committer.stats.retried_alone >= 1
