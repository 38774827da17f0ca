"""``jarvis up``, ``down``, ``status``, ``migrate``, ``serve`` and ``mcp``: the stack and the
processes that serve it."""

from __future__ import annotations

import argparse
import json

from jarvis.config import Settings


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
    outbox = _outbox_line(settings) if report[0].up else None
    if args.json:
        entries = [health.as_dict() for health in report]
        print(json.dumps(entries + ([{"store": "outbox", "up": True, "detail": outbox}] if outbox else []), indent=2))
    else:
        for health in report:
            state = "up" if health.up else "down"
            latency = f"{health.latency_ms:.1f} ms" if health.latency_ms is not None else "-"
            print(
                f"{health.store:<9} {state:<5} {health.version or '-':<40} {latency:>9}  {health.detail or ''}".rstrip()
            )
        if outbox:
            print(f"outbox    {outbox}")
    return 0 if all(health.up for health in report) else 1


def _outbox_line(settings: Settings) -> str | None:
    """What `status` says about the outbox: only dead letters, which need someone's attention."""
    import psycopg

    from jarvis.dead_letters import outbox_stats

    try:
        with psycopg.connect(settings.postgres_conninfo, connect_timeout=max(1, int(settings.connect_timeout))) as conn:
            stats = outbox_stats(conn)
    except psycopg.Error:
        return None  # an old schema, or PostgreSQL just went away: the store lines say enough
    if not stats.dead:
        return None
    return (
        f"{stats.dead} dead-lettered events, {stats.pending} pending: `jarvis verify` lists them, "
        "`jarvis sync --retry-dead` retries them"
    )


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

    from jarvis.api import create_app, logs

    config = uvicorn.Config(create_app(settings, run_projector=True), host=args.host, port=args.port, log_level="info")
    logs.install()  # after uvicorn configured logging: no key or token in a URL reaches the access log
    uvicorn.Server(config).run()
    return 0


def cmd_mcp(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.mcp_server.stdio import serve_stdio

    return serve_stdio(settings)
