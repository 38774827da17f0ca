"""The server's own repair loop: what lags after a commit is put right without anyone's command.

After PostgreSQL commits, a write never raises because Redis failed; it reports ``lagging``
instead, and this loop (run by ``jarvis serve`` beside the outbox projector) makes Redis
catch up: every few seconds a pending task missing from its queue is queued again
(:func:`jarvis.jobs.requeue.requeue`, with a grace period so it never races a writer). Every
minute it also prunes the outbox's applied history (:mod:`jarvis.jobs.outbox_prune`).
"""

from __future__ import annotations

import logging
import threading

from jarvis.connections import Stores
from jarvis.jobs.outbox_prune import prune_outbox
from jarvis.jobs.requeue import requeue

logger = logging.getLogger("jarvis.repair")

#: Seconds between rounds, and how old a change must be before the loop touches it.
REPAIR_INTERVAL = 2.0
REPAIR_GRACE = 3.0
#: Rounds between two prunings of the outbox (about a minute).
PRUNE_EVERY = 30


def repair_once(stores: Stores, *, grace: float = REPAIR_GRACE) -> dict[str, int]:
    """One round; returns what it did (``requeued``). Raises what the stores raise."""
    return {"requeued": requeue(stores, grace=grace)}


def run_repairs(stores: Stores, stop: threading.Event, *, interval: float = REPAIR_INTERVAL) -> None:
    """Repair until *stop* is set; never raises (a store may be down: the next round retries)."""
    rounds = 0
    while not stop.is_set():
        try:
            done = repair_once(stores)
            if done["requeued"]:
                logger.info("requeued %d tasks missing from Redis", done["requeued"])
        except Exception:  # noqa: BLE001 - Redis or PostgreSQL may be down; keep trying, quietly
            logger.debug("repair round failed", exc_info=True)
        if rounds % PRUNE_EVERY == 0:
            try:
                prune_outbox(stores)
            except Exception:  # noqa: BLE001 - PostgreSQL may be down; the next minute retries
                logger.debug("outbox pruning failed", exc_info=True)
        rounds += 1
        stop.wait(interval)
