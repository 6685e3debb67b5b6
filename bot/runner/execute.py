"""The one entry point every action goes through: buttons, commands and playbook steps alike.

    request:  validate params → check policy → action_run row (unique key) + audit → plan (read
              only) → dry run | nothing to do | approval required (opaque token) | execute
    approve:  token → not expired, approver allowed, the FIRST approval wins (a conditional
              UPDATE: two clicks, a Slack retry, two replicas → one winner) → execute
    reject:   token → an approver (``rejected``) or the requester (``withdrawn``, also
              ``cancel``); anyone else is refused and audited → the same conditional UPDATE
    execute:  claim the run (approved → running, conditional UPDATE) → apply once → record the
              result + audit. The run carries its ``owner``, the replica applying it. A crash
              after the claim leaves it ``running``; once that replica is dead, the ``runs``
              leader adopts it (``adopt_orphans``, a conditional UPDATE on the dead owner) and
              applies it again: apply() is idempotent (it re-checks what the plan pinned), so
              the target is changed at most once. A live owner's run is never taken.

Every step writes an audit entry in the same transaction as the state it records.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from actions.base import ActionContext, ActionFailed, ActionRefused, Plan, Result
from actions.registry import get as get_action
from bot.audit.log import append as audit
from bot.catalog.model import Catalog
from bot.clients.set import Clients
from bot.errors import ExternalServiceError
from bot.incidents import timeline
from bot.incidents.desk import IncidentDesk
from bot.incidents.follow_ups import FollowUpBook
from bot.incidents.paging import PagingBook
from bot.incidents.silences import SilenceBook
from bot.jobs.ledger import JobLedger
from bot.logs import about
from bot.policy.check import Decision, GroupResolver, approval_expiry, may_approve, may_run
from bot.store.engine import session_scope
from bot.store.models import table
from bot.store.run_models import ActionRun, Approval, ApprovalStatus, RunStatus, RunView
from bot.store.types import utcnow
from bot.summary.follow_up_controls import redraw_follow_ups

log = logging.getLogger(__name__)


def _readable(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "params"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


class Executor:
    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        clients: Clients,
        *,
        say: Callable[[int | None, str], None] | None = None,
        resolve: GroupResolver | None = None,
        desk: IncidentDesk | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        replica: str = "local",
    ) -> None:
        self.engine = engine
        self.desk = desk  # declare, severity, lead (``bot/incidents/desk.py``)
        self.replica = replica  # written as ``owner`` on the runs this process applies
        self.catalog = catalog
        self.clients = clients
        self.say = say
        self.resolve = resolve
        self.clock = clock
        self.sleep = sleep

    # -- context ---------------------------------------------------------------------------

    def context(self, actor: str, key: str, incident_id: int | None) -> ActionContext:
        say = self.say

        def post(text: str) -> None:
            if say is not None:
                say(incident_id, text)

        return ActionContext(
            actor=actor,
            key=key,
            incident_id=incident_id,
            kube=self.clients.kube,
            prom=self.clients.prom,
            pagerduty=self.clients.pagerduty,
            airflow=self.clients.airflow,
            ray=self.clients.ray,
            jobs=JobLedger(self.engine),
            alertmanager=self.clients.alertmanager,
            silences=SilenceBook(self.engine, self.clock),
            desk=self.desk,
            follow_ups=FollowUpBook(self.engine, self.clock, redraw=redraw_follow_ups),
            paging=PagingBook(self.engine, self.clock),
            catalog=self.catalog,
            pipelines=self.catalog.pipelines,
            say=post if say is not None else None,
            clock=self.clock,
            sleep=self.sleep,
        )

    # -- request ---------------------------------------------------------------------------

    def request(
        self,
        name: str,
        raw_params: Mapping[str, Any],
        *,
        actor: str,
        incident_id: int | None = None,
        dry_run: bool = False,
        key: str | None = None,
        playbook_run_id: int | None = None,
        approval: bool | None = None,
    ) -> RunView:
        """Ask for an action. ``key`` makes it run once however often it is asked;
        ``approval=True`` asks for an approval even where the policy does not (a playbook step's
        own setting); nothing waives one the policy requires."""
        key = key or f"{name}:{uuid.uuid4().hex}"
        existing = self._by_key(key)
        if existing is not None:
            return self._view(existing, "already requested")
        action = get_action(name)
        if action is None:
            return RunView(None, key, name, RunStatus.REFUSED, f"Unknown action `{name}`.")
        try:
            params = action.parse(raw_params)
        except ValidationError as exc:
            return RunView(None, key, name, RunStatus.REFUSED, f"Invalid {name}: {_readable(exc)}")
        ctx = self.context(actor, key, incident_id)
        target = action.target(ctx, params)
        decision = may_run(
            self.catalog.policy,
            actor,
            action=name,
            target=target,
            writes=action.writes,
            open_to_all=action.open_to_all,
            resolve=self.resolve,
        )
        run = self._create(
            key, name, params.model_dump(mode="json"), actor, incident_id, playbook_run_id, dry_run
        )
        if run is None:  # another request with this key won the insert, or the row is refused
            found = self._by_key(key)
            if found is None:  # no such incident (its foreign key) or playbook run
                what = f"incident #{incident_id}" if incident_id is not None else "request"
                return RunView(None, key, name, RunStatus.REFUSED, f"There is no {what}.")
            return self._view(found, "already requested")
        assert run.id is not None
        if not decision.allowed:
            return self._finish(run.id, RunStatus.REFUSED, actor, error=decision.reason)
        try:
            plan = action.plan(ctx, params)
        except ActionRefused as exc:
            return self._finish(run.id, RunStatus.REFUSED, actor, error=str(exc))
        except (ActionFailed, ExternalServiceError) as exc:
            return self._finish(run.id, RunStatus.FAILED, actor, error=f"could not plan: {exc}")
        # A playbook step may ask for an approval the policy does not require; it can never
        # waive one the policy requires.
        needs_approval = decision.approval_required or approval is True
        if dry_run:
            return self._finish(run.id, RunStatus.DRY_RUN, actor, plan=plan)
        if plan.noop:
            result = Result(True, f"Nothing to do: {plan.summary}")
            return self._finish(run.id, RunStatus.SUCCEEDED, actor, plan=plan, result=result)
        if action.writes and needs_approval:
            return self._ask_approval(run.id, actor, plan)
        self._set_plan(run.id, plan, RunStatus.APPROVED, actor)
        return self.execute(run.id)

    # -- approval --------------------------------------------------------------------------

    def approve(self, token: str, approver: str) -> RunView:
        """A click on Approve. Only the first allowed click executes; nothing else changes."""
        now = self.clock()
        with session_scope(self.engine) as session:
            approval = session.exec(select(Approval).where(Approval.token == token)).first()
            if approval is None:
                return RunView(
                    None,
                    "",
                    "",
                    RunStatus.REFUSED,
                    "This approval is unknown: the button may be from another opsbot, or altered.",
                )
            run = session.get(ActionRun, approval.action_run_id)
            assert run is not None
            assert run.id is not None
            if approval.status == ApprovalStatus.APPROVED:
                return self._view(
                    run,
                    f"Already approved by <@{approval.decided_by}> at "
                    f"{approval.decided_at:%H:%M:%S} UTC; it runs once.",
                )
            if approval.status != ApprovalStatus.PENDING:
                return self._view(run, f"This approval is {approval.status}; ask for a new one.")
            if now > approval.expires_at:
                self._expire(session, approval, run, approver)
                return self._view(run, "This approval expired; ask for a new one.")
            decision = self.approver_decision(run, approver)
            if not decision.allowed:
                _audit_run(
                    session, run, "approval_refused", approver, result={"reason": decision.reason}
                )
                return self._view(run, decision.reason, status=RunStatus.REFUSED)
            if not _decide(session, approval, ApprovalStatus.APPROVED, approver, now):
                return self._view(run, "Someone approved it a moment before you; it runs once.")
            run.status = RunStatus.APPROVED
            run.approver = approver
            run.owner = self.replica
            run.updated_at = now
            session.add(run)
            _audit_run(session, run, "approved", approver)
            run_id = run.id
        return replace(self.execute(run_id), decided=True)

    def reject(self, token: str, who: str) -> RunView:
        """A click on Reject (or ``reject <token>``). One of the run's approvers rejects it; its
        requester rejecting it withdraws it (as ``cancel``). Anyone else is refused: audited
        (``rejection_refused``), nothing changes. The first decision wins, as for approve."""
        return self._turn_down(token, who, withdraw_only=False)

    def cancel(self, token: str, who: str) -> RunView:
        """The requester withdraws their own pending request (``withdrawn``); only they may."""
        return self._turn_down(token, who, withdraw_only=True)

    def _turn_down(self, token: str, who: str, *, withdraw_only: bool) -> RunView:
        now = self.clock()
        with session_scope(self.engine) as session:
            approval = session.exec(select(Approval).where(Approval.token == token)).first()
            if approval is None:
                return RunView(
                    None,
                    "",
                    "",
                    RunStatus.REFUSED,
                    "This approval is unknown: the button may be from another opsbot, or altered.",
                )
            run = session.get(ActionRun, approval.action_run_id)
            assert run is not None
            if approval.status != ApprovalStatus.PENDING:
                by = f" by <@{approval.decided_by}>" if approval.decided_by else ""
                return self._view(run, f"This approval is already {approval.status}{by}.")
            withdraw = who == run.requested_by
            if not withdraw:
                refusal = (
                    f"Only <@{run.requested_by}>, who asked for it, may withdraw this request."
                    if withdraw_only
                    else self._may_not_reject(run, who)
                )
                if refusal is not None:
                    event = "withdrawal_refused" if withdraw_only else "rejection_refused"
                    _audit_run(session, run, event, who, result={"reason": refusal})
                    return self._view(run, refusal, status=RunStatus.REFUSED)
            if now > approval.expires_at:
                self._expire(session, approval, run, who)
                return self._view(run, "This approval had already expired; nothing was changed.")
            if not _decide(session, approval, ApprovalStatus.REJECTED, who, now):
                return self._view(run, "Someone decided it a moment before you; nothing changed.")
            run.status = RunStatus.REJECTED
            run.approver = who
            run.updated_at = now
            session.add(run)
            _audit_run(session, run, "withdrawn" if withdraw else "rejected", who)
            return replace(self._view(run, _message(run)), decided=True)

    def approver_decision(self, run: ActionRun, who: str) -> Decision:
        """Whether ``who`` is an approver of ``run`` under the rule that covers it (approve and
        reject alike)."""
        action = get_action(run.action)
        assert action is not None
        params = action.parse(run.params)
        target = action.target(self.context(run.requested_by, run.key, run.incident_id), params)
        return may_approve(
            self.catalog.policy,
            who,
            requester=run.requested_by,
            action=run.action,
            target=target,
            resolve=self.resolve,
            writes=action.writes,
            open_to_all=action.open_to_all,
        )

    def _may_not_reject(self, run: ActionRun, who: str) -> str | None:
        """None when ``who`` may reject ``run`` (the approvers of the rule that covers it); else
        why not, for that person."""
        decision = self.approver_decision(run, who)
        if decision.allowed:
            return None
        return (
            f"You may not reject this: {decision.reason}. Only an approver may reject it, or "
            f"<@{run.requested_by}>, who asked for it, may withdraw it."
        )

    # -- execution -------------------------------------------------------------------------

    def execute(self, run_id: int) -> RunView:
        """Apply an approved run, once: only the caller whose claim succeeds applies it. A run
        approved on another replica is that replica's to apply (or, once it is dead, the
        adopter's)."""
        with session_scope(self.engine) as session:
            claimed = _rowcount(
                session,
                update(table(ActionRun))
                .where(
                    col(ActionRun.id) == run_id,
                    col(ActionRun.status) == RunStatus.APPROVED,
                    or_(col(ActionRun.owner).is_(None), col(ActionRun.owner) == self.replica),
                )
                .values(status=RunStatus.RUNNING, owner=self.replica, updated_at=self.clock()),
            )
            run = session.get(ActionRun, run_id)
            assert run is not None
            if claimed != 1:
                return self._view(run, "Already running or done.")
            _audit_run(session, run, "started", run.approver or run.requested_by)
        return self._apply(run)

    def adopt_orphans(self, alive: Callable[[str], bool]) -> list[RunView]:
        """Runs approved, or being applied, by a replica that is gone (killed, or this process
        before a restart) are adopted and applied here; apply() re-checks the pinned state, so
        nothing happens twice. ``alive(owner)`` says whether a replica still runs: a live
        owner's run is never touched."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(ActionRun.id, ActionRun.status, ActionRun.owner).where(
                    col(ActionRun.status).in_([RunStatus.RUNNING, RunStatus.APPROVED])
                )
            ).all()
        verdicts: dict[str, bool] = {}
        out = []
        for run_id, status, owner in rows:
            assert run_id is not None
            if owner is not None:
                if owner not in verdicts:
                    verdicts[owner] = alive(owner)
                if verdicts[owner]:
                    continue
            if self._adopt(run_id, status, owner):
                log.info("adopted action run %s (%s) from %s", run_id, status, owner or "?")
                out.append(self.execute(run_id))
        return out

    def _adopt(self, run_id: int, status: str, owner: str | None) -> bool:
        """Take a dead replica's run: one conditional UPDATE, so two adopters never both win."""
        with session_scope(self.engine) as session:
            won = _rowcount(
                session,
                update(table(ActionRun))
                .where(
                    col(ActionRun.id) == run_id,
                    col(ActionRun.status) == status,
                    col(ActionRun.owner).is_(None)
                    if owner is None
                    else col(ActionRun.owner) == owner,
                )
                .values(status=RunStatus.APPROVED, owner=self.replica, updated_at=self.clock()),
            )
            if won != 1:
                return False
            run = session.get(ActionRun, run_id)
            assert run is not None
            audit(
                session,
                actor="opsbot",
                event="adopted",
                subject=f"action_run:{run_id}",
                action=run.action,
                params=run.params,
                plan=run.plan,
                approver=run.approver,
                result={"from": owner, "was": status, "by": self.replica},
            )
        return True

    def _apply(self, run: ActionRun) -> RunView:
        assert run.id is not None
        with about(run_id=run.id, incident_id=run.incident_id):
            return self._apply_about(run)

    def _apply_about(self, run: ActionRun) -> RunView:
        assert run.id is not None
        action = get_action(run.action)
        assert action is not None
        ctx = self.context(run.requested_by, run.key, run.incident_id)
        plan = Plan(
            summary=str(run.plan.get("summary", "")),
            lines=list(run.plan.get("lines", [])),
            pinned=dict(run.plan.get("pinned", {})),
            noop=bool(run.plan.get("noop", False)),
        )
        actor = run.approver or run.requested_by
        try:
            result = action.apply(ctx, action.parse(run.params), plan)
        except ActionRefused as exc:
            return self._finish(run.id, RunStatus.REFUSED, actor, error=str(exc))
        except (ActionFailed, ExternalServiceError) as exc:
            return self._finish(run.id, RunStatus.FAILED, actor, error=str(exc))
        except Exception as exc:
            log.exception("action %s (run %s) crashed", run.action, run.id)
            return self._finish(
                run.id, RunStatus.FAILED, actor, error=f"{type(exc).__name__}: {exc}"
            )
        status = RunStatus.SUCCEEDED if result.ok else RunStatus.FAILED
        return self._finish(run.id, status, actor, result=result)

    def lookup(self, key: str) -> RunView | None:
        """The run with this key as it stands, with its pending approval token if any."""
        run = self._by_key(key)
        if run is None:
            return None
        with Session(self.engine) as session:
            token = session.exec(
                select(Approval.token).where(
                    Approval.action_run_id == run.id, Approval.status == ApprovalStatus.PENDING
                )
            ).first()
        view = self._view(run, _message(run))
        return RunView(**{**view.__dict__, "approval_token": token})

    # -- rows ------------------------------------------------------------------------------

    def _by_key(self, key: str) -> ActionRun | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.exec(select(ActionRun).where(ActionRun.key == key)).first()

    def _create(
        self,
        key: str,
        name: str,
        params: dict[str, Any],
        actor: str,
        incident_id: int | None,
        playbook_run_id: int | None,
        dry_run: bool,
    ) -> ActionRun | None:
        now = self.clock()
        try:
            with session_scope(self.engine) as session:
                run = ActionRun(
                    key=key,
                    action=name,
                    params=params,
                    requested_by=actor,
                    incident_id=incident_id,
                    playbook_run_id=playbook_run_id,
                    dry_run=dry_run,
                    status=RunStatus.PLANNED,
                    created_at=now,
                    updated_at=now,
                )
                session.add(run)
                session.flush()
                audit(
                    session,
                    actor=actor,
                    event="requested",
                    subject=f"action_run:{run.id}",
                    action=name,
                    params=params,
                )
                _on_timeline(session, run, "requested", actor)
                return run
        except IntegrityError:
            return None

    def _set_plan(self, run_id: int, plan: Plan, status: str, actor: str) -> None:
        with session_scope(self.engine) as session:
            run = session.get(ActionRun, run_id)
            assert run is not None
            run.plan = plan.as_json()
            run.status = status
            run.owner = self.replica
            run.updated_at = self.clock()
            session.add(run)
            _audit_run(session, run, "planned", actor)

    def _ask_approval(self, run_id: int, actor: str, plan: Plan) -> RunView:
        now = self.clock()
        token = secrets.token_urlsafe(16)
        with session_scope(self.engine) as session:
            run = session.get(ActionRun, run_id)
            assert run is not None
            run.plan = plan.as_json()
            run.status = RunStatus.AWAITING_APPROVAL
            run.updated_at = now
            session.add(run)
            session.add(
                Approval(
                    token=token,
                    action_run_id=run_id,
                    requested_by=actor,
                    expires_at=now + approval_expiry(self.catalog.policy),
                    created_at=now,
                )
            )
            _audit_run(session, run, "approval_requested", actor)
            view = self._view(run, f"Needs approval: {plan.summary}")
        return RunView(**{**view.__dict__, "approval_token": token})

    def _expire(self, session: Session, approval: Approval, run: ActionRun, who: str) -> None:
        approval.status = ApprovalStatus.EXPIRED
        run.status = RunStatus.EXPIRED
        run.updated_at = self.clock()
        session.add(approval)
        session.add(run)
        _audit_run(session, run, "expired", who)

    def _finish(
        self,
        run_id: int,
        status: str,
        actor: str,
        *,
        plan: Plan | None = None,
        result: Result | None = None,
        error: str | None = None,
    ) -> RunView:
        with session_scope(self.engine) as session:
            run = session.get(ActionRun, run_id)
            assert run is not None
            if plan is not None:
                run.plan = plan.as_json()
            if result is not None:
                run.result = result.as_json()
            run.error = error
            run.status = status
            run.updated_at = self.clock()
            session.add(run)
            _audit_run(
                session,
                run,
                status,
                actor,
                result=run.result or ({"error": error} if error else {}),
            )
            return self._view(run, _message(run))

    def _view(self, run: ActionRun, message: str, *, status: str | None = None) -> RunView:
        assert run.id is not None
        return RunView(
            id=run.id,
            key=run.key,
            action=run.action,
            status=status or run.status,
            message=message,
            plan=dict(run.plan),
            result=dict(run.result),
            approver=run.approver,
        )


def _audit_run(
    session: Session,
    run: ActionRun,
    event: str,
    actor: str,
    result: dict[str, Any] | None = None,
) -> None:
    """An audit entry about ``run``: what it is, its plan and approver as they stand now."""
    audit(
        session,
        actor=actor,
        event=event,
        subject=f"action_run:{run.id}",
        action=run.action,
        params=run.params,
        plan=run.plan,
        approver=run.approver,
        result=result,
    )
    _on_timeline(session, run, event, actor)


# What goes on an incident's timeline from an action run's audit trail (the rest stays in the
# audit log): audit event → timeline kind.
TIMELINE_KINDS = {
    "requested": "action_requested",
    "approval_requested": "approval_requested",
    "approved": "action_approved",
    "rejected": "action_rejected",
    "withdrawn": "action_withdrawn",
    "expired": "approval_expired",
    RunStatus.SUCCEEDED: "action_succeeded",
    RunStatus.FAILED: "action_failed",
    RunStatus.REFUSED: "action_refused",
    RunStatus.DRY_RUN: "action_dry_run",
}


def _on_timeline(session: Session, run: ActionRun, event: str, actor: str) -> None:
    """An action run on an incident is on its timeline: asked, approved, done (in the same
    transaction as its audit entry)."""
    kind = TIMELINE_KINDS.get(event)
    if kind is None or run.incident_id is None:
        return
    summary = str(run.plan.get("summary") or "")
    if event == "requested":
        text = f"{run.action} requested" + (" (dry run)" if run.dry_run else "")
    elif event == "approval_requested":
        text = f"Approval requested for {run.action}: {summary}"
    elif event == "approved":
        text = f"{run.action} approved: {summary}"
    elif event == "rejected":
        text = f"{run.action} rejected: {summary}"
    elif event == "withdrawn":
        text = f"{run.action} withdrawn by its requester: {summary}"
    elif event == "expired":
        text = f"Approval for {run.action} expired"
    else:
        text = f"{run.action}: {_message(run)}"
    timeline.add(
        session,
        run.incident_id,
        kind,
        text[:1000],
        at=run.updated_at,
        actor=actor,
        data={
            "action_run_id": run.id,
            "action": run.action,
            "status": run.status,
            "dry_run": run.dry_run,
            "requested_by": run.requested_by,
            "approver": run.approver,
        },
    )


def _message(run: ActionRun) -> str:
    summary = str(run.plan.get("summary") or run.action)
    if run.status == RunStatus.SUCCEEDED:
        return f"Done: {run.result.get('summary') or summary}"
    if run.status == RunStatus.DRY_RUN:
        return f"Dry run, nothing changed. Would: {summary}"
    if run.status == RunStatus.REFUSED:
        return f"Refused: {run.error}"
    if run.status == RunStatus.FAILED:
        return f"Failed: {run.error or run.result.get('summary')}"
    if run.status == RunStatus.REJECTED:
        verb = "Withdrawn" if run.approver == run.requested_by else "Rejected"
        return f"{verb} by <@{run.approver}>; nothing was changed. It was: {summary}"
    return f"{run.status}: {summary}"


def _decide(session: Session, approval: Approval, status: str, who: str, now: datetime) -> bool:
    """Decide a pending approval; True for the first decision only (a conditional UPDATE: two
    clicks, a Slack retry or two replicas → one winner)."""
    won = _rowcount(
        session,
        update(table(Approval))
        .where(col(Approval.id) == approval.id, col(Approval.status) == ApprovalStatus.PENDING)
        .values(status=status, decided_by=who, decided_at=now),
    )
    return won == 1


def _rowcount(session: Session, statement: Any) -> int:
    """Rows a conditional UPDATE changed: 1 means this caller won the race."""
    result = session.connection().execute(statement)
    return int(result.rowcount)
