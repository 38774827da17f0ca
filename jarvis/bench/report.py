"""Where bench results go: a table on the terminal, JSON, docs/benchmarks.md and a PNG plot."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from jarvis.bench.runner import Figure
from jarvis.evals import locomo
from jarvis.paths import docs_dir

PACKAGES = (
    "torch",
    "sentence-transformers",
    "onnxruntime",
    "chromadb",
    "qdrant-edge-py",
    "neo4j",
    "psycopg",
    "redis",
    "fastapi",
)


def table(figures: list[Figure]) -> str:
    lines = [f"{'figure':<58} {'n':>7} {'value':>11} {'unit':<9} {'reference':>10} {'ratio':>7}  met  target"]
    for f in figures:
        met = {True: "yes", False: "NO", None: "-"}[f.met]
        lines.append(
            f"{f.figure[:58]:<58} {f.n or '':>7} {f.value:>11.3f} {f.unit:<9} "
            f"{'' if f.reference is None else f'{f.reference:.3f}':>10} "
            f"{'' if f.ratio is None else f'{f.ratio:.3f}':>7}  {met:<4} {f.target}"
        )
    return "\n".join(lines)


def as_json(figures: list[Figure]) -> str:
    return json.dumps([f.as_dict() for f in figures], indent=2)


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = subprocess.run(["sh", "-c", "free -g | awk '/Mem:/ {print $2}'"], capture_output=True, text=True).stdout
    return {
        "cpu": cpu,
        "cores": str(len(__import__("os").sched_getaffinity(0))),
        "memory_gib": memory.strip(),
        "python": platform.python_version(),
        **{name: _version(name) for name in PACKAGES},
    }


def _version(name: str) -> str:
    try:
        return version(name)
    except Exception:  # noqa: BLE001 - not installed
        return "-"


def write_docs(
    figures: list[Figure],
    search_curve: dict[int, dict[str, float]],
    command: str,
    directory: Path | None = None,
    *,
    embedder: dict | None = None,
) -> Path:
    """docs/benchmarks.md with the table, machine, versions and command; the plot under docs/img."""
    directory = directory or docs_dir()
    (directory / "img").mkdir(parents=True, exist_ok=True)
    plot = _plot(search_curve, directory / "img" / "search_latency_vs_n.png")
    facts = machine()
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with `{command}`. Every reference is measured "
        "in the same run on the same machine; ratios are platform / reference. How each figure is measured, "
        "what was changed to reach the targets and what each change bought: "
        "[benchmark-notes.md](benchmark-notes.md).",
        "",
        *(
            [
                f"The embedder served with **{embedder['backend']}** ({embedder['family']} vectors; batches on "
                f"{embedder['batch_backend']}) for every end-to-end figure.",
                "",
            ]
            if embedder
            else []
        ),
        "| figure | n | value | unit | reference | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        lines.append(
            f"| {f.figure} | {f.n or ''} | {f.value:.3f} | {f.unit} | "
            f"{'' if f.reference is None else f'{f.reference:.3f}'} | {'' if f.ratio is None else f'{f.ratio:.3f}'} "
            f"| {f.target} | {({True: 'yes', False: '**no**', None: '-'})[f.met]} |"
        )
    lines += ["", "## Machine and versions", ""] + [f"- {k}: {v}" for k, v in facts.items()]
    if plot:
        lines += ["", "## Search latency versus N", "", f"![search latency versus N](img/{plot.name})"]
    path = directory / "benchmarks.md"
    kept = locomo.section(path.read_text()) if path.exists() else ""  # `jarvis eval locomo` owns it
    path.write_text("\n".join(lines) + "\n" + (f"\n{kept.rstrip()}\n" if kept else ""))
    return path


def _plot(curve: dict[int, dict[str, float]], path: Path) -> Path | None:
    if not curve:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted(curve)
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("p50", "search p50"), ("p99", "search p99"), ("reference", "embed p50 + Chroma p50")):
        ax.plot(ns, [curve[n][key] for n in ns], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("items in knowledge_base (N)")
    ax.set_ylabel("ms")
    ax.set_title("JARVIS Memory: search latency versus N")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
