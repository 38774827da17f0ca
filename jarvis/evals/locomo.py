"""``jarvis eval locomo``: evidence recall on a LoCoMo-format folder, through the facade.

LoCoMo (Maharana et al., ACL 2024) annotates, for every question about a long conversation,
the turns that hold its answer. Each conversation becomes one user's memory: every turn a
conversation message (``"Speaker: text"``, a shared photo's caption appended, said at its
session's date), ingested through :meth:`Jarvis.append_messages` (the batch path). Every
question of categories 1-4 is then asked of that user's conversations in each mode, and we
count how many of its evidence turns come back: evidence recall@k (1, 5, 10, 20) and hit@10
(at least one evidence turn in the top 10), per category and overall, with search latency.
No LLM anywhere. The run's users are its own (``locomo-<run>-<file>``) and are deleted at
the end unless ``keep``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from jarvis.errors import InvalidInput
from jarvis.paths import docs_dir

#: The section of docs/benchmarks.md this evaluation owns (``jarvis bench`` keeps it as it is).
DOCS_HEADING = "## Retrieval quality: LoCoMo"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (1, 5, 10, 20)
MODES = ("hybrid", "vector", "keyword")
_SESSION = re.compile(r"^session_(\d+)$")
_DIA_ID = re.compile(r"D\d+:\d+")
_DATE_FORMATS = ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y")


@dataclass
class Conversation:
    name: str
    turns: list[dict[str, Any]]  # message fields for append_messages, plus "dia_id"
    questions: list[dict[str, Any]]  # {"question", "category", "evidence": set}


@dataclass
class Tally:
    """Sums for one (mode, category) cell."""

    questions: int = 0
    recall: dict[int, float] = field(default_factory=lambda: {k: 0.0 for k in KS})
    hits10: int = 0

    def add(self, ranked: Sequence[str], evidence: set[str]) -> None:
        self.questions += 1
        for k in KS:
            self.recall[k] += len(evidence & set(ranked[:k])) / len(evidence)
        self.hits10 += bool(evidence & set(ranked[:10]))

    def row(self) -> dict[str, float]:
        n = max(self.questions, 1)
        return {**{f"R@{k}": self.recall[k] / n for k in KS}, "hit@10": self.hits10 / n, "questions": self.questions}


def _session_time(text: Any, where: str) -> datetime:
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(str(text).strip(), pattern).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    raise InvalidInput(where, f"is not a LoCoMo session date like '1:56 pm on 8 May, 2023': {text!r}")


def load(folder: Path, *, run: str) -> list[Conversation]:
    """Every ``*.json`` conversation of *folder*, as messages of the users ``locomo-<run>-<file>``."""
    if not folder.is_dir():
        raise InvalidInput("--data", f"{folder} is not a directory")
    conversations = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput("--data", f"{path.name} is not JSON: {exc}") from None
        if not isinstance(data, dict) or "qa" not in data:
            raise InvalidInput("--data", f"{path.name} has no 'qa' list")
        user = f"locomo-{run}-{path.stem}"
        first = data.get("speaker_a")
        sessions = sorted((int(m.group(1)), key) for key in data if (m := _SESSION.match(key)))
        turns = []
        for number, key in sessions:
            said = _session_time(data.get(f"{key}_date_time"), f"{path.name}: {key}_date_time")
            for index, turn in enumerate(data[key] or []):
                text = str(turn.get("text", "")).strip()
                if turn.get("blip_caption"):
                    text = f"{text} [shares a photo: {turn['blip_caption']}]"
                if not text:
                    continue
                turns.append(
                    {
                        "session_id": f"{user}-{number}",
                        "user_id": user,
                        "role": "user" if turn.get("speaker") == first else "assistant",
                        "content": f"{turn.get('speaker', '?')}: {text}",
                        "created_at": said + timedelta(seconds=index),
                        "metadata": {"dia_id": str(turn.get("dia_id"))},
                    }
                )
        questions = []
        for qa in data["qa"]:
            evidence = set(_DIA_ID.findall(" ".join(map(str, qa.get("evidence") or []))))
            if qa.get("category") in CATEGORIES and evidence and qa.get("question"):
                questions.append({"question": str(qa["question"]), "category": qa["category"], "evidence": evidence})
        conversations.append(Conversation(user, turns, questions))
    if not conversations:
        raise InvalidInput("--data", f"{folder} holds no LoCoMo *.json file")
    return conversations


def run(
    jarvis,
    folder: Path,
    *,
    modes: Sequence[str] = MODES,
    keep: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Ingest *folder*, ask every question in each mode; the figures as a dict (see :func:`table`)."""
    for mode in modes:
        if mode not in MODES:
            raise InvalidInput("--modes", f"must be among {', '.join(MODES)}")
    run_id = uuid.uuid4().hex[:8]
    conversations = load(folder, run=run_id)
    try:
        turns = [turn for c in conversations for turn in c.turns]
        progress(f"ingesting {len(turns)} turns of {len(conversations)} conversations")
        started = time.perf_counter()
        dia_ids: dict[str, str] = {}
        for conversation in conversations:
            ingested = jarvis.append_messages(conversation.turns, wait=False)
            dia_ids.update(zip(ingested["ids"], (t["metadata"]["dia_id"] for t in conversation.turns)))
        jarvis.flush()
        ingest_seconds = time.perf_counter() - started
        questions = [(c.name, q) for c in conversations for q in c.questions]
        # The query's embedding is the same for every mode: made once beforehand, so the
        # latencies compare the modes' searches, not the model.
        jarvis.embedder.embed_many([q["question"] for _, q in questions], field="question")
        results: dict[str, Any] = {}
        for mode in modes:
            progress(f"asking {len(questions)} questions, mode {mode}")
            tallies = {c: Tally() for c in [*CATEGORIES, 0]}
            latencies = []
            for user, q in questions:
                started = time.perf_counter()
                found = jarvis.search(
                    query=q["question"], scopes=["conversations"], user_id=user, limit=max(KS), mode=mode
                )
                latencies.append((time.perf_counter() - started) * 1000)
                ranked = [dia_ids.get(hit["id"], "") for hit in found["results"]]
                tallies[q["category"]].add(ranked, q["evidence"])
                tallies[0].add(ranked, q["evidence"])
            results[mode] = {
                "categories": {CATEGORIES[c]: tallies[c].row() for c in CATEGORIES},
                "overall": tallies[0].row(),
                "search_p50_ms": float(np.percentile(latencies, 50)),
                "search_p95_ms": float(np.percentile(latencies, 95)),
            }
        return {
            "run": run_id,
            "conversations": len(conversations),
            "turns": len(turns),
            "questions": len(questions),
            "ingest_seconds": ingest_seconds,
            "ingest_turns_per_s": len(turns) / ingest_seconds,
            "modes": results,
        }
    finally:
        if not keep:
            jarvis.forget_users([c.name for c in conversations])


def table(figures: dict[str, Any]) -> str:
    """The figures as a Markdown table: one row per mode and category, then overall."""
    lines = [
        f"LoCoMo: {figures['conversations']} conversations, {figures['turns']} turns, "
        f"{figures['questions']} questions (categories 1-4); ingest {figures['ingest_turns_per_s']:.0f} turns/s",
        "",
        "| mode | category | questions | R@1 | R@5 | R@10 | R@20 | hit@10 | search p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, result in figures["modes"].items():
        rows = [*result["categories"].items(), ("**overall**", result["overall"])]
        for category, row in rows:
            timing = (
                f"{result['search_p50_ms']:.1f} | {result['search_p95_ms']:.1f}" if category == "**overall**" else " | "
            )
            lines.append(
                f"| {mode} | {category} | {row['questions']} | {row['R@1']:.3f} | {row['R@5']:.3f} | "
                f"{row['R@10']:.3f} | {row['R@20']:.3f} | {row['hit@10']:.3f} | {timing} |"
            )
    return "\n".join(lines)


def section(text: str) -> str:
    """This evaluation's section of a benchmarks document (empty if it has none)."""
    start = text.find(DOCS_HEADING)
    if start < 0:
        return ""
    end = text.find("\n## ", start + len(DOCS_HEADING))
    return text[start:] if end < 0 else text[start : end + 1]


def write_docs(figures: dict[str, Any], command: str, path: Path | None = None) -> Path:
    """Put the table, with the command that made it, in its section of docs/benchmarks.md."""
    path = path or docs_dir() / "benchmarks.md"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    body = "\n".join(
        [
            DOCS_HEADING,
            "",
            f"Measured {stamp} UTC with `{command}`: evidence recall@k (the share of a question's annotated evidence "
            "turns in the top k) and hit@10 (at least one in the top 10), no LLM, all-MiniLM-L6-v2. "
            "Search latency is the whole facade search of one user's conversations (the query's embedding, the "
            "same for every mode, is made beforehand).",
            "",
            table(figures),
            "",
        ]
    )
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    old = section(text)
    text = text.replace(old, body + "\n") if old else text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text)
    return path
