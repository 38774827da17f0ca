"""`jarvis eval locomo` measures what it claims: on a tiny LoCoMo-format folder made here, with
evidence chosen so the right answer is certain, it reports exactly the expected recall."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from jarvis.evals import locomo


def _conversation(a: str, b: str, sessions: list[tuple[str, list[str]]], qa: list[dict]) -> dict:
    data: dict = {"speaker_a": a, "speaker_b": b, "qa": qa}
    for number, (when, texts) in enumerate(sessions, start=1):
        data[f"session_{number}_date_time"] = when
        data[f"session_{number}"] = [
            {"speaker": (a, b)[i % 2], "dia_id": f"D{number}:{i + 1}", "text": text} for i, text in enumerate(texts)
        ]
    return data


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    first = _conversation(
        "Zorba",
        "Mirel",
        [
            (
                "1:56 pm on 8 May, 2023",
                [
                    "Hi Mirel, how was your week?",
                    "Busy! I adopted a greyhound called Quillon.",
                    "A greyhound! I started learning the theremin.",
                    "Nice. I also repainted the kitchen in ochre.",
                ],
            ),
            (
                "10:02 am on 14 June, 2023",
                ["Quillon loves the beach at Vrouwenpolder.", "Ottavio teaches Zorba the theremin on Fridays."],
            ),
        ],
        [
            {
                "question": "What is the name of Mirel's greyhound?",
                "answer": "Quillon",
                "evidence": ["D1:2"],
                "category": 4,
            },
            {"question": "Who teaches Zorba the theremin?", "answer": "Ottavio", "evidence": ["D2:2"], "category": 1},
            {
                "question": "Which beach and which kitchen colour?",
                "answer": "-",
                "evidence": ["D2:1; D1:4"],
                "category": 3,
            },
            {"question": "Adversarial, ignored", "adversarial_answer": "x", "evidence": ["D1:1"], "category": 5},
        ],
    )
    second = _conversation(
        "Ines",
        "Tove",
        [
            (
                "9:00 am on 3 March, 2023",
                [
                    "I passed the Xylander certification today!",
                    "Congratulations, Ines!",
                    "Next I will visit Trondheim.",
                ],
            ),
        ],
        [
            {
                "question": "When did Ines pass the Xylander certification?",
                "answer": "3 March 2023",
                "evidence": ["D1:1"],
                "category": 2,
            },
        ],
    )
    (tmp_path / "a.json").write_text(json.dumps(first))
    (tmp_path / "b.json").write_text(json.dumps(second))
    (tmp_path / "README.md").write_text("not a conversation")
    return tmp_path


def test_the_harness_reports_the_recall_the_folder_guarantees(jarvis, settings, folder) -> None:
    figures = locomo.run(jarvis, folder, modes=["keyword", "hybrid"])
    assert (figures["conversations"], figures["turns"], figures["questions"]) == (2, 9, 4)
    keyword = figures["modes"]["keyword"]
    # every question names a rare word of its evidence: found first by words
    assert keyword["categories"]["single-hop"]["R@1"] == 1.0
    assert keyword["categories"]["multi-hop"]["R@1"] == 1.0
    assert keyword["categories"]["temporal"]["R@1"] == 1.0
    assert keyword["categories"]["open-domain"]["R@1"] == 0.5  # two evidence turns, one slot
    assert keyword["categories"]["open-domain"]["R@5"] == 1.0
    assert keyword["overall"]["R@1"] == pytest.approx((1 + 1 + 0.5 + 1) / 4)
    for mode in ("keyword", "hybrid"):
        overall = figures["modes"][mode]["overall"]
        assert overall["questions"] == 4 and overall["R@20"] == 1.0 and overall["hit@10"] == 1.0
        assert figures["modes"][mode]["search_p50_ms"] > 0
    assert figures["ingest_turns_per_s"] > 0
    table = locomo.table(figures)
    assert "| keyword | single-hop | 1 | 1.000 |" in table and "| hybrid | **overall** | 4 |" in table
    with psycopg.connect(settings.postgres_conninfo) as conn:  # the run's users and turns are gone
        left = conn.execute(
            "SELECT count(*) FROM conversations WHERE user_id LIKE %s", (f"locomo-{figures['run']}-%",)
        ).fetchone()[0]
    assert left == 0


def test_the_command_prints_json_and_refuses_a_bad_folder(jarvis_cli, folder, tmp_path) -> None:
    done = jarvis_cli("eval", "locomo", "--data", str(folder), "--modes", "vector", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert list(figures["modes"]) == ["vector"] and figures["modes"]["vector"]["overall"]["R@20"] == 1.0
    missing = jarvis_cli("eval", "locomo", "--data", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "--data" in missing.stderr


def test_the_table_goes_into_its_own_section_of_the_benchmarks_document(tmp_path) -> None:
    figures = {
        "conversations": 1,
        "turns": 2,
        "questions": 1,
        "ingest_turns_per_s": 5.0,
        "modes": {
            "hybrid": {
                "categories": {
                    name: {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0, "R@20": 1.0, "hit@10": 1.0, "questions": 1}
                    for name in locomo.CATEGORIES.values()
                },
                "overall": {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0, "R@20": 1.0, "hit@10": 1.0, "questions": 1},
                "search_p50_ms": 3.0,
                "search_p95_ms": 4.0,
            }
        },
    }
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n| figure |\n\n## Machine and versions\n\n- cpu: x\n")
    locomo.write_docs(figures, "first", doc)
    locomo.write_docs(figures, "second", doc)
    text = doc.read_text()
    assert text.count(locomo.DOCS_HEADING) == 1 and "`second`" in text and "`first`" not in text
    assert text.startswith("# Benchmarks\n\n| figure |") and "- cpu: x" in text
    assert locomo.section(text).startswith(locomo.DOCS_HEADING) and "| hybrid | **overall** | 1 |" in text
