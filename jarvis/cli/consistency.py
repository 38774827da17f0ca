"""``jarvis sync``, ``rebuild``, ``verify`` and ``requeue``: keeping the projections and the
queues equal to PostgreSQL."""

from __future__ import annotations

import argparse
import json

from jarvis.config import Settings


def with_stores(settings: Settings, job):
    """Run *job* with the stores connected for this one command, and close them afterwards
    (every job of the command line: sync, verify, retention, backup, reembed, ...)."""
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

    return with_stores(settings, job)


def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.projection.maintenance import rebuild

    counts = with_stores(settings, lambda stores: rebuild(stores, args.store))
    print(f"{args.store} rebuilt from postgres: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    return 0


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis.projection.maintenance import verify

    differences = with_stores(settings, lambda stores: verify(stores, args.store))
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

    count = with_stores(settings, requeue)
    print(f"requeued {count} tasks")
    return 0
