"""The ``jarvis`` command line's grammar: every subcommand, its options and their help."""

from __future__ import annotations

import argparse
from pathlib import Path

from jarvis.stores.base import ALL_STORES, PROJECTION_STORES


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
