"""The root's line about the incident's latest playbook run."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from bot.outbox.kinds.root import remediation_line
from bot.store.engine import session_scope
from bot.store.run_models import PlaybookRun
from tests.support.payloads import am_alert, am_payload
from tests.support.store import incidents, ingest


def test_remediation_line_words_the_latest_run(engine: Engine) -> None:
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    incident_id = incidents(engine)[0].id
    assert incident_id is not None
    with Session(engine) as s:
        assert remediation_line(s, incident_id) is None

    def run(status: str, step: str | None) -> None:
        with session_scope(engine) as s:
            s.add(
                PlaybookRun(
                    playbook="restart",
                    incident_id=incident_id,
                    requested_by="U0ALICE",
                    status=status,
                    current_step=step,
                )
            )

    run("running", "drain")
    run("waiting", "approve")
    with Session(engine) as s:
        line = remediation_line(s, incident_id)
    assert line is not None
    assert line.endswith(": waiting for approval (approve), started by <@U0ALICE>")
    assert line.startswith("restart #")

    run("succeeded", "verify")
    with Session(engine) as s:
        line = remediation_line(s, incident_id)
    assert line is not None
    assert line.endswith(": succeeded, started by <@U0ALICE>")
