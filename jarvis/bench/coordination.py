"""The Redis phase of ``jarvis bench``: task queues and locks beside raw Redis commands."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from jarvis.bench.figures import Phases


class QueuePhase(Phases):
    """Queues and locks from 4 threads beside the bare Redis commands they are made of."""

    def queues(self, tasks: int, workers: int = 4) -> None:
        redis = self.jarvis.stores.redis
        queue, raw = redis.queues, redis.conn
        key = f"bench:raw:{self.run}"

        def layer(worker: int) -> None:
            for i in range(tasks // workers):
                queue.enqueue(f"{self.run}-{worker}-{i}", 1)
                delivery = queue.dequeue(visibility_timeout=30)
                if delivery is not None:
                    queue.ack(delivery)

        def bare(worker: int) -> None:
            for i in range(tasks // workers):
                raw.lpush(key, f"{worker}-{i}")
                raw.rpop(key)

        ours, reference = (tasks / self._parallel(fn, workers) for fn in (layer, bare))
        self.add(
            "queue: enqueue -> dequeue -> ack, 4 workers",
            tasks,
            ours,
            "tasks/s",
            reference,
            target=">= 0.5 x raw LPUSH/RPOP",
            met=ours / reference >= 0.5,
        )
        locks = redis.locks

        def lock_layer(worker: int) -> None:
            for i in range(tasks // workers):
                locks.acquire(f"bench-{self.run}-{worker}", "holder", ttl=30)
                locks.release(f"bench-{self.run}-{worker}", "holder")

        def lock_bare(worker: int) -> None:
            for i in range(tasks // workers):
                raw.set(f"bench:lock:{self.run}:{worker}", "holder", nx=True, px=30000)
                raw.delete(f"bench:lock:{self.run}:{worker}")

        ours, reference = (tasks / self._parallel(fn, workers) for fn in (lock_layer, lock_bare))
        self.add(
            "lock acquire/release pairs, 4 workers",
            tasks,
            ours,
            "pairs/s",
            reference,
            target=">= 0.5 x raw SET NX PX",
            met=ours / reference >= 0.5,
        )

    @staticmethod
    def _parallel(fn: Callable[[int], None], workers: int) -> float:
        threads = [threading.Thread(target=fn, args=(w,)) for w in range(workers)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started
