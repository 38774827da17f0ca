"""``/console/api/operations``: the last backups, a retention dry run and ``verify``, run by the
serving process itself.

While ``jarvis serve`` runs on the local stack it holds the in-process stores (Qdrant Edge), so
these jobs must run through it, on its own store clients, not from a second process. Looking and
running are both for admin keys not bound to a user only (the jobs see every user's data, and
what they leave — verify's differing ids, the backup directory, retention counts — names it):
the console hides the view from others and these routes refuse them (403). One job runs at a
time (409 while another runs).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from jarvis.api.deps import Admin
from jarvis.console.shapes import BackupRun, Operations, RetentionRun, VerifyRun
from jarvis.jobs.backup import PREFIX

router = APIRouter(prefix="/console/api/operations", tags=["console"])
Row = dict[str, Any]
#: Differences shown per store and kind (the counts are always whole).
SHOWN_KEYS = 20
_running = threading.Lock()


def list_backups(directory: Path, *, limit: int = 20) -> list[Row]:
    """The newest backups under *directory*, as their manifests describe them (not re-checked:
    ``jarvis restore`` checks a backup's signature and files before it loads anything)."""
    found = (
        sorted((p for p in directory.glob(f"{PREFIX}*") if p.is_dir()), reverse=True)[:limit]
        if directory.is_dir()
        else []
    )
    backups = []
    for path in found:
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except (OSError, ValueError):
            backups.append({"name": path.name, "complete": False})
            continue
        stores = {
            store: {
                "bytes": sum(f.get("bytes", 0) for f in entry.get("files", {}).values()),
                "items": entry.get("items"),
                "seconds": entry.get("seconds"),
            }
            for store, entry in manifest.get("stores", {}).items()
        }
        backups.append(
            {
                "name": path.name,
                "complete": True,
                "created_at": manifest.get("created_at"),
                "seconds": manifest.get("seconds"),
                "bytes": sum(s["bytes"] for s in stores.values()),
                "stores": stores,
            }
        )
    return backups


def _require_service(caller) -> None:
    """403 for a user-bound key, even an admin one: the jobs and their results span every user."""
    if caller.key.user_id is not None:
        raise HTTPException(403, "operations need a service key (this key acts for one user)")


@router.get("")
def operations(request: Request, caller: Admin) -> Operations:
    """The backups on disk and the last retention dry run and verify this server ran."""
    _require_service(caller)
    state = request.app.state
    return {
        "backup_dir": str(caller.jarvis.settings.backup_dir),
        "backups": list_backups(caller.jarvis.settings.backup_dir),
        "last_retention": getattr(state, "console_last_retention", None),
        "last_verify": getattr(state, "console_last_verify", None),
        "running": _running.locked(),
    }


async def _exclusive(caller, job) -> Row:
    _require_service(caller)
    if not _running.acquire(blocking=False):
        raise HTTPException(409, "another operation is running; try again when it has finished")
    try:
        began = time.perf_counter()
        result = await run_in_threadpool(job)
        return {
            **result,
            "seconds": round(time.perf_counter() - began, 3),
            "finished_at": datetime.now(timezone.utc).isoformat(),
        }
    finally:
        _running.release()


@router.post("/backup")
async def run_backup(caller: Admin) -> BackupRun:
    """Back up all five stores into the backup directory (signed manifest, as ``jarvis backup``)."""
    from jarvis.jobs.backup import backup

    def job() -> Row:
        target = backup(caller.jarvis.stores, caller.jarvis.settings.backup_dir)
        return {"backup": next(b for b in list_backups(target.parent) if b["name"] == target.name)}

    return await _exclusive(caller, job)


@router.post("/retention-dry-run")
async def retention_dry_run(request: Request, caller: Admin) -> RetentionRun:
    """What the retention policy would delete now, deleting nothing."""
    from jarvis.jobs.retention import apply_retention

    def job() -> Row:
        report = apply_retention(caller.jarvis.stores, now=datetime.now(timezone.utc), dry_run=True)
        return {
            "counts": report.counts,
            "dropped_partitions": report.dropped_partitions,
            "lagging": report.lagging,
            "refused_audio": len(report.refused_audio),
        }

    request.app.state.console_last_retention = result = await _exclusive(caller, job)
    return result


@router.post("/verify")
async def run_verify(request: Request, caller: Admin) -> VerifyRun:
    """Compare ids across the stores, as ``jarvis verify``: every difference, the first keys of each."""
    from jarvis.projection.maintenance import verify

    def job() -> Row:
        differences = [asdict(d) for d in verify(caller.jarvis.stores)]
        for d in differences:
            d["missing_count"], d["extra_count"] = len(d["missing"]), len(d["extra"])
            d["missing"], d["extra"] = d["missing"][:SHOWN_KEYS], d["extra"][:SHOWN_KEYS]
        return {"clean": not differences, "differences": differences}

    request.app.state.console_last_verify = result = await _exclusive(caller, job)
    return result
