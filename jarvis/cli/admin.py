"""``jarvis erase``, ``keys``, ``reembed`` and ``embedder``: what an operator does to users'
data, to API keys and to the embedding model."""

from __future__ import annotations

import argparse
import json
import sys

from jarvis.cli.consistency import with_stores
from jarvis.config import Settings


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

    return with_stores(settings, job)


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
