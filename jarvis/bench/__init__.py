"""``jarvis bench``: the platform measured against the raw client of each store, in one run."""

from __future__ import annotations

from collections.abc import Callable, Collection

from jarvis.bench import embedder
from jarvis.bench.runner import Bench, Figure
from jarvis.errors import InvalidInput

QUICK_N = 2000
PEER_QUICK_N = 200


#: What ``--only`` can choose; every section by default. ``search`` ingests the N items it searches.
SECTIONS = ("add", "embedder", "search", "import", "rebuild", "queues", "api", "peer")


def run(
    jarvis,
    settings,
    *,
    quick: bool,
    ns: list[int],
    progress: Callable[[str], None] = lambda m: None,
    only: Collection[str] = SECTIONS,
) -> tuple[list[Figure], dict[int, dict[str, float]]]:
    """Every figure (or the *only* sections), for each N in *ns* (``--quick``: N = 2,000 and small
    samples). ``rebuild`` and ``peer`` use the ingest that ``search`` makes."""
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        raise InvalidInput("--only", f"unknown section {unknown[0]!r}; choose among {', '.join(SECTIONS)}")
    bench = Bench(jarvis, settings=settings, progress=progress)
    sizes = [QUICK_N] if quick else sorted(ns)
    samples = 20 if quick else 200
    curve: dict[int, dict[str, float]] = {}
    try:
        bench.start_from_compact_projections()
        if "add" in only:
            bench.single_add(samples)
        if "embedder" in only:
            # The API server runs in this process (a thread): measured before the benchmark's own
            # data (N items, the exact-search matrix) swells the process, this is the API's idle size.
            bench.rss("API process RSS idle, model loaded (before the benchmark's own data)")
            served = embedder.serve_rss(settings)
            bench.add(
                f"jarvis serve RSS idle, model loaded, own process ({served['backend']}, "
                f"torch {'imported' if served['torch'] else 'not imported'})",
                None,
                served["rss_mib"],
                "MiB",
                None,
                target="<= 400 MiB",
                met=served["rss_mib"] <= 400,
            )
            embedder.compare_backends(
                bench, singles=20 if quick else 200, batch_texts=256 if quick else 1024, rounds=1 if quick else 3
            )
            if not quick:
                embedder.locomo_recall(bench)
        ingested, seconds = 0, 0.0
        if "search" in only:
            for n in sizes:
                seconds += bench.ingest(n - ingested)
                ingested = n
                curve[n] = bench.search(n, samples)
        if "import" in only:
            embedder.conversation_import(bench, 256 if quick else 2000)
        for small, large in zip(sizes, sizes[1:]):
            if large >= 10 * small and large in curve:
                growth = curve[large]["p50"] / curve[small]["p50"]
                bench.add(
                    f"search p50 at N={large:,} vs N={small:,}",
                    large,
                    curve[large]["p50"],
                    "ms",
                    curve[small]["p50"],
                    target="<= 2 x",
                    met=growth <= 2,
                )
        if "rebuild" in only and ingested:
            bench.rebuild(sizes[-1], seconds)
        if "queues" in only:
            bench.queues(2000 if quick else 20000)
        if "api" in only:
            bench.api(400 if quick else 4000)
        if "peer" in only and bench.ingest_rates:
            # Mem0 adds one item at a time (49/s in the issue's own measurement): it is run at the
            # first N only, where our own figures for that N exist; --quick runs it small, unjudged.
            peer_n = PEER_QUICK_N if quick else sizes[0]
            bench.peer(
                peer_n,
                samples,
                ours_ingest=next(iter(bench.ingest_rates.values())),
                ours_search_p50=None if quick else {n: curve[n]["p50"] for n in sizes},
                judged=not quick,
            )
    finally:
        bench.cleanup()
    return bench.figures, curve
