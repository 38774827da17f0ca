"""The ``jarvis`` command: run the local stack and the platform's jobs.

Exit codes: 0 success; 1 a store is down or a job failed; 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from jarvis.config import Settings
from jarvis.stores.base import ALL_STORES, PROJECTION_STORES, StoreName
from jarvis.errors import JarvisError


def _stores_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        action="append",
        choices=ALL_STORES,
        metavar="NAME",
        help=f"only this store (repeatable); one of {', '.join(ALL_STORES)}",
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

    sync = commands.add_parser("sync", help="apply every pending outbox event to the lagging stores")
    sync.add_argument(
        "--retry-dead",
        action="store_true",
        help="first make the dead-lettered events pending again (after fixing their rows)",
    )
    sync.add_argument(
        "--reconcile",
        action="store_true",
        help="then make every projection match PostgreSQL where verify finds it different "
        "(removes ghost nodes and orphan relationships)",
    )
    sync.add_argument(
        "--store",
        action="append",
        choices=PROJECTION_STORES,
        help="with --reconcile: only this projection (repeatable; default: all)",
    )
    rebuild = commands.add_parser("rebuild", help="rebuild a projection from PostgreSQL alone")
    rebuild.add_argument("--store", required=True, choices=PROJECTION_STORES)
    verify = commands.add_parser("verify", help="compare ids across the stores; exit 1 on any difference")
    verify.add_argument("--store", action="append", choices=PROJECTION_STORES)
    verify.add_argument("--json", action="store_true")
    commands.add_parser("requeue", help="rebuild the Redis task queues from pending task rows")

    retention = commands.add_parser("retention", help="apply the retention policy across every store")
    retention.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    retention.add_argument("--now", help="the clock to apply the policy at (ISO-8601), default: now")
    retention.add_argument("--json", action="store_true")
    partitions = commands.add_parser("partitions", help="create the coming months' partitions; report DEFAULT rows")
    partitions.add_argument("--ahead", type=int, default=3)
    backup = commands.add_parser("backup", help="back up all five stores into a new directory under --out")
    backup.add_argument("--out", required=True, type=Path)
    backup.add_argument("--keep", type=float, default=30.0, help="delete backups older than this many days (30)")
    backup.add_argument("--json", action="store_true")
    restore = commands.add_parser("restore", help="restore a backup directory (checked against its manifest)")
    restore.add_argument("directory", type=Path)

    bench = commands.add_parser("bench", help="measure the platform against the raw stores (and write docs/)")
    bench.add_argument("--quick", action="store_true", help="N = 2,000, small samples: a smoke test")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--n", default="10000,100000", help="comma-separated knowledge_base sizes")
    bench.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    bench.add_argument(
        "--only",
        help="comma-separated sections (add, embedder, search, import, rebuild, queues, "
        "api, peer; default all); implies --no-docs",
    )

    evaluate = commands.add_parser("eval", help="retrieval quality on a public benchmark (no LLM)")
    benchmarks = evaluate.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    locomo = benchmarks.add_parser("locomo", help="evidence recall on a LoCoMo-format folder, per mode and category")
    locomo.add_argument("--data", required=True, type=Path, help="folder of LoCoMo conversation *.json files")
    locomo.add_argument("--modes", default="hybrid,vector,keyword", help="comma-separated search modes")
    locomo.add_argument("--json", action="store_true", help="machine-readable output")
    locomo.add_argument("--keep", action="store_true", help="keep the ingested conversations (default: delete)")
    locomo.add_argument("--docs", action="store_true", help="also write the table into docs/benchmarks.md")

    demo = commands.add_parser(
        "demo", help="the main job: start the stack, build a small world through the API, query it"
    )
    demo.add_argument("--json", action="store_true", help="machine-readable output")
    demo.add_argument("--url", help="use a running API instead of starting one (with --api-key)")
    demo.add_argument("--api-key", help="an API key with read and write scopes for --url")

    keys = commands.add_parser("keys", help="API keys: create, list, revoke")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", default="read", help="comma-separated: read, write, admin, backup")
    create.add_argument("--user", help="bind the key to one user: it sees only that user's conversations")
    key_commands.add_parser("list", help="list keys (never their secrets)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by id or prefix")
    revoke.add_argument("key")

    reembed = commands.add_parser(
        "reembed",
        help="embed every stored text again with another backend "
        "(switches fp32/int8 vectors; resumable, with progress)",
    )
    reembed.add_argument("--to", required=True, choices=["torch", "onnx", "onnx-int8"])
    embedder = commands.add_parser("embedder", help="the embedder: which backend serves, its ONNX export and quality")
    embedder_commands = embedder.add_subparsers(dest="embedder_command", required=True, metavar="ACTION")
    embedder_status = embedder_commands.add_parser(
        "status", help="the serving backend, the export's measured figures, the store's vector family"
    )
    embedder_status.add_argument("--json", action="store_true")
    embedder_export = embedder_commands.add_parser("export", help="make the ONNX export (set-up time; needs torch)")
    embedder_export.add_argument("--force", action="store_true", help="make it again even if it is valid")

    erase = commands.add_parser("erase", help="erase a user, agent, session or preference everywhere, with a receipt")
    erase.add_argument(
        "what",
        choices=["user", "agent", "session", "preference", "receipt"],
        help="what to erase (`receipt ID`: fetch and re-check an earlier erasure's receipt)",
    )
    erase.add_argument("id")
    erase.add_argument("--json", action="store_true")
    serve = commands.add_parser("serve", help="run the HTTP memory API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    commands.add_parser("mcp", help="serve MCP over stdio for an agent's MCP client (the key from JARVIS_API_KEY)")
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


def _with_stores(settings: Settings, job):
    from jarvis.connections import Stores

    stores = Stores(settings)
    try:
        return job(stores)
    finally:
        stores.close()


def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.projection.projector import Projector

    from jarvis.dead_letters import outbox_stats, retry_dead
    from jarvis.projection.orphans import remove_orphan_edges
    from jarvis.jobs.outbox_prune import prune_outbox

    def job(stores) -> int:
        if args.retry_dead:
            with stores.postgres.pool.connection() as conn:
                print(f"{retry_dead(conn)} dead-lettered events made pending again")
        projector = Projector(stores)
        try:
            applied, pending = projector.drain()
        finally:
            projector.close()
        with stores.postgres.pool.connection() as conn:
            dead = outbox_stats(conn).dead
        pruned = prune_outbox(stores)
        orphans = remove_orphan_edges(stores)
        if args.reconcile:
            from jarvis.projection.maintenance import reconcile

            print(f"reconciled {reconcile(stores, args.store)} ids with postgres")
        print(
            f"applied {applied.events} events; {pending} still pending; {dead} dead-lettered; "
            f"{pruned} applied events pruned" + (f"; {orphans} orphan edges removed" if orphans else "")
        )
        for store, error in sorted(applied.lagging.items()):
            print(f"  {store} lagging: {error}")
        if dead:  # they block nothing: sync succeeds; verify lists them until they are retried
            print("  dead-lettered events: see `jarvis verify`; fix the rows, then `jarvis sync --retry-dead`")
        return 0 if pending == 0 else 1

    return _with_stores(settings, job)


def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.projection.maintenance import rebuild

    counts = _with_stores(settings, lambda stores: rebuild(stores, args.store))
    print(f"{args.store} rebuilt from postgres: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    return 0


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.projection.maintenance import verify

    differences = _with_stores(settings, lambda stores: verify(stores, args.store))
    if args.json:
        print(json.dumps([d.as_dict() for d in differences], indent=2))
    elif not differences:
        print("clean: every projection matches postgres")
    for d in differences if not args.json else []:
        print(f"{d.store} {d.what}: {len(d.missing)} missing, {len(d.extra)} extra")
        for key in d.missing[:20]:
            print(f"  missing {key}")
        for key in d.extra[:20]:
            print(f"  extra   {key}")
        if d.repair:
            print(f"  repair: {d.repair}")
    return 1 if differences else 0


def cmd_requeue(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.jobs.requeue import requeue

    count = _with_stores(settings, requeue)
    print(f"requeued {count} tasks")
    return 0


def _parse_now(text: str | None):
    from datetime import datetime, timezone

    from jarvis.errors import InvalidInput

    if text is None:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("--now", f"{text!r} is not an ISO-8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def cmd_retention(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.jobs.retention import apply_retention

    now = _parse_now(args.now)
    report = _with_stores(settings, lambda stores: apply_retention(stores, now=now, dry_run=args.dry_run))
    if args.json:
        print(
            json.dumps(
                {
                    "now": now.isoformat(),
                    "dry_run": args.dry_run,
                    "counts": report.counts,
                    "dropped_partitions": report.dropped_partitions,
                    "lagging": report.lagging,
                    "refused_audio": report.refused_audio,
                    "remaining": report.remaining,
                }
            )
        )
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for policy, count in report.counts.items():
        print(f"{policy:<48} {verb} {count}")
    for partition in report.dropped_partitions:
        print(f"dropped partition {partition}{' (dry run)' if args.dry_run else ''}")
    if report.remaining:
        print(
            "final check, left in each store: "
            + ", ".join(
                f"{store} {'unchecked (down)' if left is None else left}" for store, left in report.remaining.items()
            )
        )
    if report.lagging:
        print(f"projections lagging (the outbox retries them): {', '.join(report.lagging)}")
    if report.refused_audio:
        print(
            f"{len(report.refused_audio)} expired recordings not deleted: their path is not a name inside "
            "JARVIS_AUDIO_DIR"
        )
    return 0


def cmd_partitions(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.jobs.partitions import ensure_partitions

    created, in_default = _with_stores(settings, lambda stores: ensure_partitions(stores, ahead=args.ahead))
    print(f"created {len(created)} partitions" + (": " + ", ".join(created) if created else ""))
    for table, rows in in_default.items():
        print(f"{table}_default holds {rows} rows")
    return 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.jobs.backup import backup, prune, terminal_progress

    target = _with_stores(settings, lambda stores: backup(stores, args.out, progress=terminal_progress))
    removed = prune(args.out, keep_days=args.keep)
    manifest = json.loads((target / "manifest.json").read_text())
    if args.json:
        print(json.dumps({"backup": str(target), "pruned": [str(p) for p in removed], **manifest}))
    else:
        print(f"backup {target} in {manifest['seconds']} s")
        for store, entry in manifest["stores"].items():
            size = sum(f["bytes"] for f in entry["files"].values())
            print(f"  {store:<9} {size:>12} bytes  {entry['items']}")
        for path in removed:
            print(f"pruned {path}")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.jobs.backup import restore, terminal_progress

    restored = _with_stores(settings, lambda stores: restore(stores, args.directory, progress=terminal_progress))
    print(f"restored {args.directory}: {json.dumps(restored)}")
    return 0 if restored["differences"] == 0 else 1


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis import bench, local
    from jarvis.bench import report
    from jarvis.errors import InvalidInput
    from jarvis.facade import Jarvis
    from jarvis.migrate import migrate_all

    try:
        ns = [int(n) for n in args.n.split(",") if n]
    except ValueError:
        raise InvalidInput("--n", "must be comma-separated integers") from None
    local.up(settings)
    migrate_all(settings)
    progress = (lambda m: print(m, file=sys.stderr, flush=True)) if sys.stderr.isatty() else (lambda m: None)
    with Jarvis.from_settings(settings) as jarvis:
        only = [section.strip() for section in args.only.split(",") if section.strip()] if args.only else bench.SECTIONS
        figures, curve = bench.run(jarvis, settings, quick=args.quick, ns=ns, progress=progress, only=only)
        serving = jarvis.embedder.describe()
    print(f"embedder: {serving['backend']} ({serving['family']}), batches on {serving['batch_backend']}")
    print(report.as_json(figures) if args.json else report.table(figures))
    if not args.no_docs and not args.only:  # docs/benchmarks.md holds whole runs only
        command = "scripts/jarvis bench " + ("--quick" if args.quick else f"--n {args.n}")
        print(f"wrote {report.write_docs(figures, curve, command, embedder=serving)}", file=sys.stderr)
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis import local
    from jarvis.evals import locomo
    from jarvis.facade import Jarvis
    from jarvis.migrate import migrate_postgres

    # Conversations live in PostgreSQL and Chroma; Qdrant is left alone (a running server may
    # hold Qdrant Edge, and the evaluation writes nothing there).
    local.up(settings, [store for store in ALL_STORES if store is not StoreName.QDRANT])
    migrate_postgres(settings.postgres_conninfo)
    progress = (lambda m: print(m, file=sys.stderr, flush=True)) if sys.stderr.isatty() else (lambda m: None)
    with Jarvis.from_settings(settings) as jarvis:
        figures = locomo.run(
            jarvis,
            args.data,
            modes=[m.strip() for m in args.modes.split(",") if m.strip()],
            keep=args.keep,
            progress=progress,
        )
    print(json.dumps(figures, indent=2) if args.json else locomo.table(figures))
    if args.docs:
        command = f"scripts/jarvis eval locomo --data {args.data} --modes {args.modes}"
        print(f"wrote {locomo.write_docs(figures, command)}", file=sys.stderr)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis import demo, local
    from jarvis.migrate import migrate_all

    if not args.url:
        local.up(settings)
        migrate_all(settings)
    report = demo.run(settings, base_url=args.url, api_key=args.api_key)
    print(demo.main_json(report) if args.json else demo.render(report))
    return 0


def cmd_erase(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when the receipt is complete, 1 while a store still lags (re-check: `erase receipt ID`)."""
    from jarvis.facade import Jarvis

    with Jarvis.from_settings(settings) as jarvis:
        receipt = {
            "user": jarvis.forget_user,
            "agent": jarvis.delete_agent,
            "session": jarvis.delete_session,
            "preference": jarvis.delete_preference,
            "receipt": jarvis.erasure_receipt,
        }[args.what](args.id)
    if args.json:
        print(json.dumps(receipt, indent=2))
    else:
        print(
            f"receipt {receipt['id']}: {receipt['subject_type']} {receipt['subject_id']} "
            f"{'erased everywhere' if receipt['complete'] else 'erased; lagging: ' + ', '.join(receipt['lagging'])}"
        )
        for store, what in receipt["removed"].items():
            left = receipt["remaining"].get(store)
            print(
                f"  {store:<9} removed {', '.join(f'{n} {k}' for k, n in what.items())}; "
                f"{'unchecked (down)' if left is None else f'{left} left'}"
            )
        if "revoked_keys" in receipt:
            print(
                f"  api keys  revoked {len(receipt['revoked_keys'])}"
                + (f": {', '.join(receipt['revoked_keys'])}" if receipt["revoked_keys"] else "")
            )
    return 0 if receipt["complete"] else 1


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis import apikeys
    from jarvis.stores.postgres import PostgresStore

    pg = PostgresStore.connect(settings)
    try:
        if args.keys_command == "create":
            key, record = apikeys.create_key(
                pg, name=args.name, scopes=[s.strip() for s in args.scopes.split(",")], user_id=args.user
            )
            print(key)
            print(
                f"id {record['id']}  prefix {record['prefix']}  scopes {','.join(record['scopes'])}"
                f"{'  user ' + record['user_id'] if record['user_id'] else ''}  (store the key now: it is not kept)",
                file=sys.stderr,
            )
        elif args.keys_command == "list":
            for row in apikeys.list_keys(pg):
                state = "revoked" if row["revoked_at"] else "live"
                print(
                    f"{row['id']}  {row['prefix']}  {state:<7}  {','.join(row['scopes']):<22} "
                    f"{row['user_id'] or '-':<20} {row['name']}"
                )
        else:
            apikeys.revoke_key(pg, args.key)
            print(f"revoked {args.key}")
    finally:
        pg.close()
    return 0


def cmd_reembed(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.embedder_report import int8_quality_line
    from jarvis.embeddings import Embedder
    from jarvis.jobs.reembed import reembed
    from jarvis.projection.projector import Projector

    embedder = Embedder(backend=args.to, cache_dir=settings.cache_dir)
    if embedder.family == "int8":
        print(f"reembed: {int8_quality_line(embedder)}")

    def job(stores) -> int:
        reembed(stores, embedder, progress=lambda line: print(line, flush=True))
        projector = Projector(stores)
        try:
            applied, pending = projector.drain()
        finally:
            projector.close()
        print(
            f"reembed: projected {applied.events} events; {pending} still pending"
            + ("" if not pending else " (`jarvis sync` retries them)")
        )
        print(f"reembed: serve with JARVIS_EMBEDDER={args.to}")
        return 0 if pending == 0 else 1

    return _with_stores(settings, job)


def cmd_embedder(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.embedder_report import status

    if args.embedder_command == "export":
        from jarvis.embedder_export import ensure_export

        print(ensure_export(cache_dir=settings.cache_dir, force=args.force))
        return 0
    report = status(settings)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
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


COMMANDS = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "migrate": cmd_migrate,
    "sync": cmd_sync,
    "rebuild": cmd_rebuild,
    "verify": cmd_verify,
    "requeue": cmd_requeue,
    "keys": cmd_keys,
    "demo": cmd_demo,
    "bench": cmd_bench,
    "eval": cmd_eval,
    "retention": cmd_retention,
    "partitions": cmd_partitions,
    "backup": cmd_backup,
    "restore": cmd_restore,
    "serve": cmd_serve,
    "reembed": cmd_reembed,
    "embedder": cmd_embedder,
    "erase": cmd_erase,
    "mcp": cmd_mcp,
}


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
