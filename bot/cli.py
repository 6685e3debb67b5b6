"""The ``opsbot`` command: serve, console, db upgrade, playbooks validate."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from bot.config import Settings
from bot.errors import ConfigError
from bot.logs import configure


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from bot.app import build_app

    app = build_app(settings)
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=settings.log_level.lower(), access_log=False
    )
    return 0


def _console(args: argparse.Namespace, settings: Settings) -> int:
    from bot.catalog.load import load_catalog
    from bot.chat.console_repl import repl
    from bot.store.engine import make_engine
    from bot.store.migrate import upgrade

    catalog = load_catalog(settings.services_file)
    upgrade(settings.database_url)
    return repl(make_engine(settings.database_url), catalog=catalog)


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from bot.store.migrate import upgrade

    upgrade(settings.database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


def _playbooks_validate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.playbooks import validate_dir

    directory = args.dir or settings.playbooks_dir
    problems, count = validate_dir(directory)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{count} playbook(s) checked in {directory}, {len(problems)} problem(s)")
    return 1 if problems else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="opsbot", description="ChatOps incident bot for ML teams")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service (webhooks, Slack, metrics)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=_serve)

    console = sub.add_parser("console", help="the /ops commands at a terminal prompt")
    console.set_defaults(func=_console)

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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"opsbot: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    configure(settings.log_level)
    try:
        return int(args.func(args, settings))
    except ConfigError as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
