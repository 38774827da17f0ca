"""Evidence recall on LoCoMo (``../shared/datasets/locomo-dev``), per embedder backend.

Every turn of each conversation is embedded as "[session date] Speaker: text" (+ " [shares a
photo: caption]"), every question of categories 1-4 is asked of its own conversation by exact
cosine, and recall@k counts how many of its evidence turns come back in the top k — the
figure the dataset's README gives for all-MiniLM-L6-v2 (R@10 0.544). It decides whether int8
may ever be the default: only if its recall is within 0.01 of fp32's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jarvis.paths import PROJECT_ROOT

DATASET = PROJECT_ROOT.parent / "shared" / "datasets" / "locomo-dev"
KS = (1, 5, 10, 20)


def conversations(path: Path = DATASET) -> list[dict]:
    """Each file as ``{"turns": [(dia_id, text)], "questions": [(question, evidence)]}``."""
    out = []
    for file in sorted(path.glob("*.json")):
        data = json.loads(file.read_text())
        turns = []
        for key in sorted(
            (k for k in data if k.startswith("session_") and isinstance(data[k], list)),
            key=lambda k: int(k.split("_")[1]),
        ):
            date = data.get(f"{key}_date_time", "")
            for turn in data[key]:
                text = f"[{date}] {turn['speaker']}: {turn['text']}"
                if turn.get("blip_caption"):
                    text += f" [shares a photo: {turn['blip_caption']}]"
                turns.append((turn["dia_id"], text))
        questions = [
            (qa["question"], set(qa["evidence"]))
            for qa in data["qa"]
            if qa.get("category") in (1, 2, 3, 4) and qa.get("evidence")
        ]
        out.append({"turns": turns, "questions": questions})
    return out


def evidence_recall(embedder, data: list[dict]) -> dict[str, float]:
    """Mean evidence recall@k (k in KS) over every question, by exact cosine."""
    recalls: dict[int, list[float]] = {k: [] for k in KS}
    for conversation in data:
        ids = [dia for dia, _ in conversation["turns"]]
        turns = embedder.embed_many([text for _, text in conversation["turns"]])
        asked = embedder.embed_many([q for q, _ in conversation["questions"]])
        order = np.argsort(-(asked @ turns.T), axis=1, kind="stable")
        for row, (_, evidence) in zip(order, conversation["questions"]):
            for k in KS:
                found = {ids[i] for i in row[:k]}
                recalls[k].append(len(found & evidence) / len(evidence))
    return {f"R@{k}": float(np.mean(v)) for k, v in recalls.items()} | {"questions": len(recalls[KS[0]])}
