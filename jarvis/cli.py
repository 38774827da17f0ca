"""The ``jarvis`` command: run the local stack and the platform's jobs.

Exit codes: 0 success; 1 a store is down or a job failed; 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from jarvis.config import STORES, Settings
from jarvis.errors import JarvisError


def _stores_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", action="append", choices=STORES, metavar="NAME",
        help=f"only this store (repeatable); one of {', '.join(STORES)}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jarvis", description="JARVIS Memory: memory and knowledge for AI agents")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="start the embedded local stack (idempotent) and apply the schemas")
    _stores_arg(up)
    up.add_argument("--no-migrate", action="store_true", help="start the stores only")

    down = commands.add_parser("down", help="stop what `jarvis up` started")
    _stores_arg(down)

    status = commands.add_parser("status", help="one line per store: up/down, version, round trip")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    commands.add_parser("migrate", help="apply SQL migrations, graph constraints and vector collections")

    serve = commands.add_parser("serve", help="run the HTTP memory API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    return parser


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis import local

    for outcome in local.up(settings, args.store):
        print(f"{outcome.store:<9} {outcome.action}")
    if not args.store and not args.no_migrate:
        return cmd_migrate(settings, args)
    return 0


def cmd_down(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis import local

    for outcome in local.down(settings, args.store):
        print(f"{outcome.store:<9} {outcome.action}")
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.stores.health import check_all

    report = check_all(settings)
    if args.json:
        print(json.dumps([health.as_dict() for health in report], indent=2))
    else:
        for health in report:
            state = "up" if health.up else "down"
            latency = f"{health.latency_ms:.1f} ms" if health.latency_ms is not None else "-"
            print(f"{health.store:<9} {state:<5} {health.version or '-':<40} {latency:>9}  {health.detail or ''}".rstrip())
    return 0 if all(health.up for health in report) else 1


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.migrate import migrate_all

    report = migrate_all(settings)
    applied = report.pop("postgres")
    print(f"postgres  {'applied ' + ', '.join(applied) if applied else 'schema up to date'}")  # type: ignore[arg-type]
    for store, what in report.items():
        print(f"{store:<9} {', '.join(what) if isinstance(what, list) else what}")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from jarvis.api import create_app

    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


COMMANDS = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "migrate": cmd_migrate, "serve": cmd_serve}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        # The drivers log each retry as a warning; our own message says what failed.
        logging.getLogger("neo4j").setLevel(logging.ERROR)
    try:
        settings = Settings.from_env()
        return COMMANDS[args.command](settings, args)
    except JarvisError as exc:
        print(f"jarvis {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
