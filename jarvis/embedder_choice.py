"""Which backend serves the embedder: ``JARVIS_EMBEDDER=auto|torch|onnx|onnx-int8``.

``auto`` (the default) serves with ONNX Runtime when its export exists and passes the
start-up check (its probe vectors equal torch's), and with torch otherwise, saying why in
the log and in :attr:`Chosen.note`. Naming a backend makes it a requirement: a missing,
corrupted or mismatched export of ``onnx``/``onnx-int8`` is a :class:`ConfigurationError`
that names the file and the command that remakes it — a process never silently serves
other vectors than the ones asked for.

An export that is missing altogether is made on first start, in a child process (it imports
torch, which this process must not hold when ONNX serves); ``scripts/bootstrap.sh`` makes
it at set-up time, so that is rare.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvis.embedder_onnx import MANIFEST_FILE, Export, ExportInvalid, OnnxEncoder, export_dir, model_checksum
from jarvis.errors import ConfigurationError
from jarvis.paths import PROJECT_ROOT

logger = logging.getLogger("jarvis.embeddings")

CHOICES = ("auto", "torch", "onnx", "onnx-int8")
#: Seconds the first-start export may take before it counts as failed.
EXPORT_TIMEOUT = 900


@dataclass(frozen=True, kw_only=True)
class Chosen:
    """The encoder that serves, which backend embeds batches, and why (when not what was asked)."""

    encoder: Any
    batch_backend: str
    note: str | None = None


def choose(*, choice: str, cache_dir: Path, model_path: Path | None = None, batch_size: int = 64) -> Chosen:
    """The encoder for *choice*. Raises ConfigurationError when a named backend cannot serve."""
    if choice not in CHOICES:
        raise ConfigurationError(f"JARVIS_EMBEDDER must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "torch" or model_path is not None:  # another model than the packaged one: torch only
        return Chosen(encoder=_torch(model_path, batch_size), batch_backend="torch")
    variant = "onnx" if choice == "auto" else choice
    try:
        export = _open_export(Path(cache_dir), variant=variant)
        encoder = OnnxEncoder(export=export, variant=variant)
        encoder.check_probe()
    except ExportInvalid as exc:
        if choice != "auto":
            raise ConfigurationError(
                f"JARVIS_EMBEDDER={choice} cannot serve: {exc}. Remake the export with "
                "`jarvis embedder export --force` (or scripts/bootstrap.sh)"
            ) from None
        note = f"serving with torch: the ONNX backend is unusable ({exc}); `jarvis embedder export --force` remakes it"
        logger.warning("embedder: %s", note)
        return Chosen(encoder=_torch(None, batch_size), batch_backend="torch", note=note)
    batch = export.manifest.get("batch", {}).get("backend", variant) if encoder.family == "fp32" else variant
    return Chosen(encoder=encoder, batch_backend=batch if batch == "torch" else variant)


def _torch(model_path: Path | None, batch_size: int):
    from jarvis.embedder_torch import TorchEncoder

    return TorchEncoder(model_path=model_path, batch_size=batch_size)


def _open_export(cache_dir: Path, *, variant: str) -> Export:
    from jarvis.embedder_onnx import packaged_model_path

    checksum = model_checksum(packaged_model_path())
    path = export_dir(cache_dir, checksum)
    if not (path / MANIFEST_FILE).exists():
        _export_in_child(cache_dir)
    return Export.open(path, checksum=checksum, variant=variant)


def _export_in_child(cache_dir: Path) -> None:
    """Make the export in a child process (it imports torch; this process must not)."""
    logger.warning("embedder: no ONNX export under %s yet; making it now (first start, under a minute)", cache_dir)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "jarvis.embedder_export", "--cache-dir", str(cache_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=EXPORT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ExportInvalid(f"making the ONNX export took over {EXPORT_TIMEOUT} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ExportInvalid(f"making the ONNX export failed: {tail}")
