"""``jarvis bench``, ``eval`` and ``demo``: measuring the platform and showing it."""

from __future__ import annotations

import argparse
import json
import sys

from jarvis.config import Settings
from jarvis.stores.base import ALL_STORES, StoreName


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
