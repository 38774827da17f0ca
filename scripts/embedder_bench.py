#!/usr/bin/env python3
"""The embedder per backend alone (no stores): scripts/embedder_bench.py QUERIES TEXTS ROUNDS."""

import sys, types
from jarvis.bench.runner import Bench
from jarvis.bench import embedder as eb
from jarvis.bench.report import table
from jarvis.embeddings import Embedder
from pathlib import Path

settings = types.SimpleNamespace(cache_dir=Path("~/.cache/jarvis").expanduser(), embedder="auto")
jarvis = types.SimpleNamespace(embedder=Embedder.shared())
b = Bench(jarvis, settings=settings, progress=lambda m: print(m, file=sys.stderr))
eb.compare_backends(b, singles=int(sys.argv[1]), batch_texts=int(sys.argv[2]), rounds=int(sys.argv[3]))
print(table(b.figures))
