"""The ONNX backend: torch's vectors without torch, checked at start-up, made offline at set-up.

The export the suite uses is the one ``scripts/bootstrap.sh`` made under the shared cache;
tests that damage an export copy it into a cache directory of their own first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jarvis.embedder_choice import choose
from jarvis.embedder_onnx import (
    FP32_FILE,
    MANIFEST_FILE,
    PROBE_FILE,
    Export,
    ExportInvalid,
    OnnxEncoder,
    _file_sha256,
    export_dir,
    model_checksum,
    packaged_model_path,
)
from jarvis.embedder_torch import TorchEncoder
from jarvis.embeddings import Embedder, default_cache_dir
from jarvis.errors import ConfigurationError
from jarvis.paths import PROJECT_ROOT

#: Hostile and awkward texts: unicode, near-empty, markup, whitespace, and far past 256 word pieces.
TEXTS = [
    "Translate this document from French into English.",
    "Ünïcödé: naïve café, Größe, 東京タワー, Москва, ελληνικά, emoji 🚀🔥, العربية, हिन्दी.",
    "?",
    "a",
    "   padded with spaces and a tab\t",
    "\u200b zero width and combining e\u0301",
    "<script>alert('x')</script> DROP TABLE users; --",
    " ".join(f"word{i} is followed by another{i % 13}" for i in range(300)),  # ~2,000 word pieces
    ("Plants turn sunlight, water and carbon dioxide into glucose and oxygen. " * 40).strip(),
]


@pytest.fixture(scope="module")
def export() -> Export:
    checksum = model_checksum(packaged_model_path())
    return Export.open(export_dir(default_cache_dir(), checksum), checksum=checksum)


@pytest.fixture(scope="module")
def torch_encoder() -> TorchEncoder:
    return TorchEncoder()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


@pytest.mark.slow
def test_onnx_vectors_equal_torchs_one_by_one_and_in_a_padded_batch(
    export: Export, torch_encoder: TorchEncoder
) -> None:
    onnx = OnnxEncoder(export=export)
    reference = torch_encoder.encode(TEXTS)
    alone = np.vstack([onnx.encode([text]) for text in TEXTS])
    together = onnx.encode(TEXTS)  # padded to the longest text of the batch
    assert alone.shape == (len(TEXTS), 384) and alone.dtype == np.float32
    assert _cosines(reference, alone).min() >= 0.9999
    assert _cosines(reference, together).min() >= 0.9999
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_long_texts_are_cut_at_256_word_pieces_like_sentence_transformers(export: Export) -> None:
    onnx = OnnxEncoder(export=export)
    head = " ".join(f"alpha{i}" for i in range(90))  # ~180 word pieces: past 128, within 256
    tail_a, tail_b = " ".join(["river"] * 400), " ".join(["mountain"] * 400)
    cut_late_a, cut_late_b = onnx.encode([f"{head} {tail_a}", f"{head} {tail_b}"])
    assert float(cut_late_a @ cut_late_b) < 0.999  # what follows token 128 still counts
    past_256 = " ".join(["alpha"] * 300)
    same_a, same_b = onnx.encode([f"{past_256} {tail_a}", f"{past_256} {tail_b}"])
    assert float(same_a @ same_b) > 0.99999  # what follows token 256 does not


def test_the_start_up_check_refuses_probe_vectors_that_are_not_torchs(tmp_path: Path, export: Export) -> None:
    target = _copy_export(export, tmp_path)
    probe = np.load(target / PROBE_FILE)
    np.save(target / PROBE_FILE, np.roll(probe, 1, axis=0))  # consistent checksums, wrong vectors
    _rewrite_manifest(target)
    with pytest.raises(ConfigurationError, match="does not reproduce torch's vectors"):
        choose(choice="onnx", cache_dir=tmp_path)


@pytest.mark.slow
def test_a_corrupted_export_fails_clearly_when_named_and_falls_back_to_torch_when_auto(
    tmp_path: Path, export: Export
) -> None:
    target = _copy_export(export, tmp_path)
    with open(target / FP32_FILE, "r+b") as fh:
        fh.seek(4096)
        fh.write(b"\x00" * 64)
    with pytest.raises(ConfigurationError, match=r"model\.onnx is corrupted.*jarvis embedder export --force"):
        choose(choice="onnx", cache_dir=tmp_path)
    fallback = Embedder(backend="auto", cache_dir=tmp_path)
    assert fallback.backend == "torch" and fallback.family == "fp32"
    assert "corrupted" in fallback.note and "serving with torch" in fallback.note
    assert fallback.embed("still works").shape == (384,)


def test_an_unknown_backend_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="JARVIS_EMBEDDER must be one of auto, torch, onnx, onnx-int8"):
        choose(choice="tensorflow", cache_dir=default_cache_dir())


def test_int8_is_one_text_per_pass_so_the_same_text_gives_the_same_vector(export: Export) -> None:
    int8 = OnnxEncoder(
        export=Export.open(export.path, checksum=export.manifest["model_sha256"], variant="onnx-int8"),
        variant="onnx-int8",
    )
    texts = ["short", "a much longer sentence about the billing service and its invoices", "short"]
    alone = int8.encode(["short"])[0]
    batch = int8.encode(texts)
    assert int8.family == "int8"
    assert np.array_equal(batch[0], alone) and np.array_equal(batch[2], alone)


@pytest.mark.slow
def test_the_api_and_the_facade_do_not_import_torch_when_onnx_serves() -> None:
    code = (
        "import sys; import jarvis.api.app, jarvis.facade, jarvis.cli; from jarvis.embeddings import Embedder; "
        "e = Embedder(backend='onnx'); e.embed('hello'); list(e.embed_batches([['a'], ['b']])); "
        "print(e.backend, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["onnx", "False", "False"]


@pytest.mark.slow
def test_a_fresh_set_up_exports_the_model_with_no_network(tmp_path: Path) -> None:
    """The export step of scripts/bootstrap.sh into an empty cache: every socket it opens
    other than a local one is refused, and the export is still made."""
    assert "-m jarvis.embedder_export" in (PROJECT_ROOT / "scripts" / "bootstrap.sh").read_text()
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(
        "import sys\n"
        "def _no_network(event, args):\n"
        "    if event in ('socket.connect', 'socket.getaddrinfo') and not (\n"
        "            event == 'socket.connect' and isinstance(args[1], (str, bytes))):\n"
        "        raise OSError(f'network access refused during the test: {event} {args[1:]!r}')\n"
        "sys.addaudithook(_no_network)\n"
    )
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(guard), str(PROJECT_ROOT)])}
    done = subprocess.run(
        [sys.executable, "-m", "jarvis.embedder_export", "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    checksum = model_checksum(packaged_model_path())
    made = Export.open(export_dir(cache, checksum), checksum=checksum)
    assert Path(done.stdout.strip()) == made.path
    assert made.manifest["probe_min_cosine"] >= 0.9999
    assert OnnxEncoder(export=made).check_probe() >= 0.9999
    guarded = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('example.org', 80))"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert "network access refused" in guarded.stderr  # the guard was really on


def _copy_export(export: Export, cache_dir: Path) -> Path:
    target = export_dir(cache_dir, export.manifest["model_sha256"])
    shutil.copytree(export.path, target)
    return target


def _rewrite_manifest(target: Path) -> None:
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    manifest["files"] = {name: _file_sha256(target / name) for name in manifest["files"]}
    (target / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_export_invalid_names_a_missing_export(tmp_path: Path) -> None:
    with pytest.raises(ExportInvalid, match="no ONNX export at"):
        Export.open(tmp_path / "nothing", checksum="0" * 64)


def test_the_embedder_status_says_what_serves_and_what_the_store_holds(jarvis_cli) -> None:
    done = jarvis_cli("embedder", "status", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["backend"] == "onnx" and report["family"] == "fp32" and report["note"] is None
    assert report["probe_min_cosine"] >= 0.9999 and report["store_vectors"] == "fp32"
    assert "top-10 neighbours agree" in report["int8"]
