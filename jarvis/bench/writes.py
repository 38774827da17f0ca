"""The write phases of ``jarvis bench``: bulk ingest, single adds, rebuilds, and removing what
the benchmark wrote."""

from __future__ import annotations

import time

from jarvis.bench.figures import Phases, pct, timed
from jarvis.bench.workload import sentences
from jarvis.stores.base import PROJECTION_STORES


class WritePhases(Phases):
    """Writes through the facade: each figure beside the embedder or the first ingest."""

    def start_from_compact_projections(self) -> None:
        """Rebuild Chroma from PostgreSQL before measuring: its HNSW index keeps a tombstone
        for every deleted item (an earlier run's cleanup leaves one per item), and those make
        every later insert slower — 1.85 against 4.65 CPU-seconds per 2,000 items after a few
        runs. ``jarvis rebuild --store chroma`` compacts it the same way."""
        from jarvis.projection.maintenance import rebuild

        self.say("rebuilding chroma from postgres (compact index) before measuring")
        rebuild(self.jarvis.stores, "chroma")

    def ingest(self, n: int) -> float:
        """Batches of 64 through the facade against the embedder alone; returns the ingest seconds."""
        texts = sentences(n, seed=hash(self.run) % 10_000)
        embedder = self.jarvis.embedder
        embedder.clear_cache()
        # the embedder at its best on the same batches: its lanes, as ingest uses them
        reference = timed(lambda: list(embedder.embed_batches(texts[i : i + 64] for i in range(0, n, 64))))
        embedder.clear_cache()
        items = [
            {"topic": f"{self.category}-{i}", "content": t, "category": self.category} for i, t in enumerate(texts)
        ]

        def ingest() -> None:  # each batch committed and projected while the next one is embedded
            self.jarvis.ingest_knowledge(items, batch_size=64, wait=False)
            self.jarvis.flush()  # the clock stops when every store has every item

        seconds = timed(ingest)
        self.add(
            f"ingest, write-through to all stores, batches of 64 (lanes: {embedder.batch_backend})",
            n,
            n / seconds,
            "items/s",
            n / reference,
            target=">= 0.85 x embedder",
            met=(reference / seconds) >= 0.85,
        )
        self.ingest_rates[n] = n / seconds
        return seconds

    def single_add(self, count: int) -> None:
        """*count* rounds of three, each in a shuffled order: one embedding of a text (the
        reference), the add of that same text returning at commit, and an add of another text
        waiting for every projection. Shuffled, each follows each other equally often, so all
        three see the same machine — the stores still digesting the last write slow down
        whatever comes next, the reference embedding included."""
        import random

        texts = sentences(2 * count, seed=hash(self.run) % 10_000 + 1)
        embedder = self.jarvis.embedder
        order = random.Random(self.run)
        embed: list[float] = []
        adds: dict[bool, list[float]] = {True: [], False: []}
        lags = []
        for same, other in zip(texts[0::2], texts[1::2]):
            steps = ["embed", "commit", "through"]
            order.shuffle(steps)
            for step in steps:
                embedder.clear_cache()  # every step embeds its text afresh
                if step == "embed":
                    embed.append(timed(lambda: embedder.embed(same)) * 1000)
                    continue
                wait = step == "through"
                started = time.perf_counter()
                written = self.jarvis.add_knowledge(
                    topic=f"{self.category}-single", content=other if wait else same, category=self.category, wait=wait
                )
                adds[wait].append((time.perf_counter() - started) * 1000)
                lags.append(written.projection_seconds() * 1000)  # one add at a time: projected before the next
        ours, through = adds[False], adds[True]
        self.add(
            f"single add p50 (returns at commit), embedder {embedder.backend}",
            len(ours),
            pct(ours, 50),
            "ms",
            pct(embed, 50),
            target="p50 <= 1.2 x one embedding and <= 8 ms",
            met=pct(ours, 50) <= 1.2 * pct(embed, 50) and pct(ours, 50) <= 8.0,
        )
        self.add(
            "single add p99 (returns at commit)",
            len(ours),
            pct(ours, 99),
            "ms",
            pct(embed, 99),
            target="report",
            met=None,
        )
        self.add(
            "single add p50 (wait=true: after every projection)",
            len(through),
            pct(through, 50),
            "ms",
            pct(embed, 50),
            target="report",
            met=None,
        )
        self.add(
            "projection lag p50 (commit -> searchable everywhere)",
            len(lags),
            pct(lags, 50),
            "ms",
            None,
            target="report",
            met=None,
        )
        self.add(
            "projection lag p99 (commit -> searchable everywhere)",
            len(lags),
            pct(lags, 99),
            "ms",
            None,
            target="p99 <= 250 ms",
            met=pct(lags, 99) <= 250,
        )

    def rebuild(self, n: int, ingest_seconds: float) -> None:
        from jarvis.projection.maintenance import rebuild

        for store in PROJECTION_STORES:
            seconds = timed(lambda s=store: rebuild(self.jarvis.stores, s))
            self.add(
                f"rebuild {store} from postgres (no re-embedding)",
                n,
                seconds,
                "s",
                ingest_seconds,
                target="<= 0.25 x original ingest",
                met=seconds <= 0.25 * ingest_seconds,
            )

    def cleanup(self) -> int:
        """Remove the benchmark's rows, through the outbox, so every projection follows."""
        from jarvis.outbox import Event, record

        with self.jarvis.stores.postgres.pool.connection() as conn:
            with conn.transaction():
                ids = [
                    r[0]
                    for r in conn.execute(
                        "DELETE FROM knowledge WHERE category = %s RETURNING id::text", (self.category,)
                    )
                ]
                event_ids = record(conn, [Event("knowledge", i, "delete") for i in ids])
        for i in range(0, len(event_ids), 1000):
            self.jarvis.projector.apply(event_ids[i : i + 1000])
        return len(ids)
