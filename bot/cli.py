"""The ``opsbot`` command: serve, console, incidents export, db upgrade, playbooks validate,
audit verify."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr, ValidationError

from bot.config import Settings
from bot.errors import ConfigError
from bot.logs import configure

if TYPE_CHECKING:
    from bot.store.job_models import JobRun


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from bot.app import build_app
    from bot.fleet.drain import DrainingServer
    from bot.fleet.sqlite import hold_sole_server
    from bot.store.wait import wait_for_database

    refuse_missing_parts(settings)
    sole = hold_sole_server(settings.database_url)  # SQLite: one serve per file
    try:
        wait_for_database(settings.database_url, settings.db_wait_s)
        app = build_app(settings, settle_heap=True)
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level=settings.log_level.lower(),
            access_log=False,
            log_config=None,  # uvicorn's loggers go through opsbot's (text or JSON) handler
            timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        )

        def begin_drain() -> None:
            drain = getattr(app.state, "begin_drain", None)
            if drain is not None:  # None: SIGTERM before the app started; nothing to drain
                drain()

        DrainingServer(config, begin_drain, settings.drain_delay_s).run()
    finally:
        sole.release()
    return 0


def refuse_missing_parts(settings: Settings) -> None:
    """``serve`` never starts silently empty: a catalog file or playbook directory that was
    named but is not there, or a playbook that does not validate, stops it in one line."""
    from bot.runner.playbook import validate_dir

    named = settings.model_fields_set
    if "services_file" in named and not settings.services_file.is_file():
        raise ConfigError(f"OPSBOT_SERVICES_FILE names {settings.services_file}: no such file")
    if "playbooks_dir" in named and not settings.playbooks_dir.is_dir():
        raise ConfigError(f"OPSBOT_PLAYBOOKS_DIR names {settings.playbooks_dir}: no such directory")
    problems, _ = validate_dir(settings.playbooks_dir)
    if problems:
        more = f" (and {len(problems) - 1} more; see opsbot playbooks validate)"
        raise ConfigError(
            f"a playbook does not validate: {problems[0]}" + (more if len(problems) > 1 else "")
        )


def _console(args: argparse.Namespace, settings: Settings) -> int:
    import threading

    from bot.chat.console_identity import console_identity, current_os_user
    from bot.chat.console_repl import repl
    from bot.jobs.ledger import JobLedger
    from bot.jobs.tracker import JobTracker
    from bot.store.migrate import upgrade
    from bot.wiring.core import build_core

    core = build_core(settings)
    try:
        # Who types is the OS user; whom they act as, the policy decides (ConfigError: one line).
        identity = console_identity(core.catalog.policy, current_os_user(), args.user)
        upgrade(settings.database_url)
        # The console leads no background work, but the runs it applies carry its name as
        # owner, and its liveness keeps serving replicas from adopting them while it runs.
        core.fleet.start()
        # Jobs started here are followed here too: their outcome is printed when they end.
        stop = threading.Event()
        tracker = JobTracker(JobLedger(core.engine), core.ray, on_final=_print_outcome)
        follower = threading.Thread(target=tracker.follow_until, args=(stop,), daemon=True)
        follower.start()
        try:
            return repl(
                core.engine,
                catalog=core.catalog,
                ops=core.ops,
                identity=identity,
                change_window_min=settings.change_failure_window_min,
                prometheus=core.clients.prom,
            )
        finally:
            stop.set()
    finally:
        core.close()


def _print_outcome(job: JobRun) -> None:
    from bot.render.jobs import render_job_done

    text, _ = render_job_done(job)
    print(f"\n[job #{job.id}] {text}", flush=True)


def _incidents_export(args: argparse.Namespace, settings: Settings) -> int:
    """An incident's post-incident summary as Markdown: the stored one (the LLM's version when
    it passed the check), or the template written now when none is stored yet."""
    from sqlmodel import Session

    from bot.catalog.load import load_catalog
    from bot.store.engine import make_engine
    from bot.store.migrate import upgrade
    from bot.store.models import Incident
    from bot.store.summary_models import SummaryState
    from bot.summary.build import template_summary
    from bot.summary.requests import summary_of

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            if session.get(Incident, args.id) is None:
                print(f"opsbot: no incident #{args.id}", file=sys.stderr)
                return 1
            stored = summary_of(session, args.id)
            if stored is not None and stored.state == SummaryState.READY and stored.markdown:
                markdown = stored.markdown
            else:
                markdown = template_summary(
                    session, args.id, load_catalog(settings.services_file)
                ).markdown
    finally:
        engine.dispose()
    if args.out is None:
        sys.stdout.write(markdown if markdown.endswith("\n") else markdown + "\n")
        return 0
    try:
        args.out.write_text(markdown if markdown.endswith("\n") else markdown + "\n")
    except OSError as exc:
        print(f"opsbot: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from bot.store.migrate import current_revision, upgrade

    before = current_revision(settings.database_url)
    upgrade(settings.database_url, args.revision)
    after = current_revision(settings.database_url)
    if before == after and args.revision not in ("head", "heads", after):
        print(
            f"opsbot: nothing changed: the database is at {after}, past {args.revision} "
            "(upgrade never goes back)",
            file=sys.stderr,
        )
        return 1
    print(f"database at {after}" + (f" (was {before})" if before not in (None, after) else ""))
    return 0


def _playbooks_validate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runner.playbook import validate_dir

    directory = args.dir or settings.playbooks_dir
    if not directory.is_dir():
        print(f"opsbot: no playbook directory at {directory}", file=sys.stderr)
        return 1
    problems, count = validate_dir(directory)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{count} playbook(s) checked in {directory}, {len(problems)} problem(s)")
    return 1 if problems else 0


def _anchor(value: str) -> str:
    from bot.audit.verify import check_anchor

    try:
        return check_anchor(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import inspect
    from sqlmodel import Session

    from bot.audit.verify import verify
    from bot.store.engine import make_engine

    engine = make_engine(settings.database_url)
    try:
        if not inspect(engine).has_table("audit_entry"):
            print(
                "opsbot: this database has no audit log; run `opsbot db upgrade`", file=sys.stderr
            )
            return 2
        with Session(engine) as session:
            report = verify(session, anchor=args.anchor)
    finally:
        engine.dispose()
    head = report.head_hash[:12]
    if report.ok:
        print(f"audit log OK: {report.rows} entries, head {head}")
        return 0
    for problem in report.problems:
        print(problem, file=sys.stderr)
    print(
        f"audit log BROKEN: {len(report.problems)} problem(s) in {report.rows} entries, head {head}"
    )
    return 1


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import Demo

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value else None

    demo = Demo(args.url, secret(settings.alertmanager_token), secret(settings.api_token))
    for line in demo.resolve() if args.resolve else demo.run():
        print(line)
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("opsbot")
    except PackageNotFoundError:
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="opsbot", description="ChatOps incident bot for ML teams")
    p.add_argument("--version", action="version", version=f"opsbot {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service (webhooks, Slack, metrics)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=_serve)

    console = sub.add_parser("console", help="the /ops commands at a terminal prompt")
    console.add_argument(
        "--as",
        dest="user",
        default=None,
        metavar="U…",
        help="act as this Slack user: only one that policy.console_users maps your OS user to "
        "(default: the one it maps you to, else console:<os user>, which no rule names)",
    )
    console.set_defaults(func=_console)

    incidents = sub.add_parser("incidents", help="incidents")
    inc_sub = incidents.add_subparsers(dest="incidents_command", required=True)
    export = inc_sub.add_parser("export", help="an incident's post-incident summary as Markdown")
    export.add_argument("id", type=int, help="the incident number, e.g. 12")
    export.add_argument("--out", type=Path, default=None, help="write to this file, not stdout")
    export.set_defaults(func=_incidents_export)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_db_upgrade)

    pb = sub.add_parser("playbooks", help="runbook playbooks")
    pb_sub = pb.add_subparsers(dest="pb_command", required=True)
    val = pb_sub.add_parser("validate", help="check every playbook file")
    val.add_argument("dir", nargs="?", type=Path, default=None)
    val.set_defaults(func=_playbooks_validate)

    demo = sub.add_parser(
        "demo",
        help="send the quick start's example deploy and alert to a running opsbot, timed now",
    )
    demo.add_argument("--url", default="http://127.0.0.1:8080", help="where opsbot serves")
    demo.add_argument(
        "--resolve", action="store_true", help="resolve the demo's open incident instead"
    )
    demo.set_defaults(func=_demo)

    audit = sub.add_parser("audit", help="the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    ver = audit_sub.add_parser("verify", help="recompute the hash chain of the audit log")
    ver.add_argument(
        "--anchor",
        type=_anchor,
        default=None,
        help="a head hash printed by an earlier verify: it must still be in the chain "
        "(catches a deleted tail)",
    )
    ver.set_defaults(func=_audit_verify)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"opsbot: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    configure(settings.log_level, settings.log_format)
    try:
        return int(args.func(args, settings))
    except ConfigError as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        line = _usual_error(exc)
        if line is None:
            raise
        print(f"opsbot: {line}", file=sys.stderr)
        return 1


def _usual_error(exc: Exception) -> str | None:
    """One line for the errors a person makes or meets every day (a database that is down, a
    revision that does not exist); None for a bug, whose traceback is worth reading."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        from bot.store.wait import reason

        return f"database error ({reason(exc)}); check OPSBOT_DATABASE_URL"
    if type(exc).__module__.startswith("alembic") and type(exc).__name__ == "CommandError":
        return f"migrations: {exc}"
    return None


if __name__ == "__main__":
    sys.exit(main())
