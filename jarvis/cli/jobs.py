"""``jarvis retention``, ``partitions``, ``backup`` and ``restore``: the jobs cron runs."""

from __future__ import annotations

import argparse
import json

from jarvis.cli.consistency import with_stores
from jarvis.config import Settings


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
    report = with_stores(settings, lambda stores: apply_retention(stores, now=now, dry_run=args.dry_run))
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

    created, in_default = with_stores(settings, lambda stores: ensure_partitions(stores, ahead=args.ahead))
    print(f"created {len(created)} partitions" + (": " + ", ".join(created) if created else ""))
    for table, rows in in_default.items():
        print(f"{table}_default holds {rows} rows")
    return 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.jobs.backup import backup, prune, terminal_progress

    target = with_stores(settings, lambda stores: backup(stores, args.out, progress=terminal_progress))
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

    restored = with_stores(settings, lambda stores: restore(stores, args.directory, progress=terminal_progress))
    print(f"restored {args.directory}: {json.dumps(restored)}")
    return 0 if restored["differences"] == 0 else 1
