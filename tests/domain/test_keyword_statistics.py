"""The keyword ranking's statistics (migration 017) stay equal to a recount, whatever writes.

BM25 reads document frequencies and the corpus size from ``search_term_stats`` instead of
counting per search; these tests write through the facade (and, for an update the facade does
not offer, through SQL) and compare the statistics with what the rows hold.
"""

from __future__ import annotations

import psycopg
import pytest

from jarvis.domain import keyword

TERMS = "SELECT lexeme, docs FROM search_term_stats WHERE scope_table = %s AND owner = %s AND lexeme = ANY(%s)"
CORPUS = "SELECT docs, dl_sum FROM search_term_stats WHERE scope_table = %s AND owner = %s AND lexeme = ''"


def _words(name: str) -> list[str]:
    """Three words no other test writes (English stemming leaves them as they are)."""
    tag = "".join(c for c in name.lower() if c.isalpha())[-12:]
    return [f"zq{tag}alphaxq", f"zq{tag}bravoxq", f"zq{tag}charliexq"]


def _docs(jarvis, table: str, owner: str, words: list[str]) -> dict[str, int]:
    with jarvis.stores.postgres.pool.connection() as conn:
        found = dict(conn.execute(TERMS, (table, owner, words)).fetchall())
    return {w: found.get(w, 0) for w in words}


def _corpus_is_recounted(jarvis, table: str) -> None:
    """The shared corpus row equals a count of the table (nothing else writes meanwhile)."""
    with jarvis.stores.postgres.pool.connection() as conn:
        kept = conn.execute(CORPUS, (table, "")).fetchone()
        counted = conn.execute(f"SELECT count(*), coalesce(sum(length(search_tsv)), 0) FROM {table}").fetchone()
    assert tuple(kept) == tuple(counted)


def test_statistics_follow_inserts_updates_and_deletes(jarvis, name) -> None:
    alpha, bravo, charlie = words = _words(name)
    added = jarvis.add_knowledge_many(
        [
            {"topic": f"{name}-1", "content": f"The {alpha} pipeline failed twice."},
            {"topic": f"{name}-2", "content": f"The {alpha} and the {bravo} pipelines failed."},
            {"topic": f"{name}-3", "content": f"Nothing about {alpha} was learned."},
        ]
    )["ids"]
    try:
        assert _docs(jarvis, "knowledge", "", words) == {alpha: 3, bravo: 1, charlie: 0}
        _corpus_is_recounted(jarvis, "knowledge")
        with jarvis.stores.postgres.pool.connection() as conn:  # new words for one row; another's validity only
            conn.execute("UPDATE knowledge SET content = %s WHERE id = %s", (f"Only {charlie} now.", added[0]))
            conn.execute("UPDATE knowledge SET confidence = 0.5 WHERE id = %s", (added[1],))
        assert _docs(jarvis, "knowledge", "", words) == {alpha: 2, bravo: 1, charlie: 1}
        _corpus_is_recounted(jarvis, "knowledge")
        jarvis.delete_knowledge(added[1])
        assert _docs(jarvis, "knowledge", "", words) == {alpha: 1, bravo: 0, charlie: 1}
        _corpus_is_recounted(jarvis, "knowledge")
    finally:
        for item in added[0:1] + added[2:]:
            jarvis.delete_knowledge(item)
    assert _docs(jarvis, "knowledge", "", words) == {alpha: 0, bravo: 0, charlie: 0}


def test_conversation_statistics_are_counted_per_user_and_seen_only_by_that_user(jarvis, settings, name) -> None:
    alpha, bravo, _ = words = _words(name)
    ada, bob = f"{name}-ada", f"{name}-bob"
    jarvis.append_message(session_id=f"{name}-a", user_id=ada, role="user", content=f"My {alpha} is blue.")
    jarvis.append_message(session_id=f"{name}-a", user_id=ada, role="user", content=f"And my {bravo} and {alpha}.")
    jarvis.append_message(session_id=f"{name}-b", user_id=bob, role="user", content=f"Bob's {alpha} is red.")
    try:
        # the second turn is also the first one's context (weight D): both rows hold bravo
        assert _docs(jarvis, "conversations", ada, words)[alpha] == 2
        assert _docs(jarvis, "conversations", bob, words)[alpha] == 1
        with psycopg.connect(settings.api_postgres_conninfo) as conn:  # a user-bound role: Ada's counts only
            conn.execute("SELECT set_config('app.current_user', %s, true)", (ada,))
            owners = {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT owner FROM search_term_stats WHERE scope_table = 'conversations'"
                ).fetchall()
            }
        assert owners == {ada}
    finally:
        jarvis.forget_users([ada, bob])
    assert _docs(jarvis, "conversations", ada, words) == dict.fromkeys(words, 0)


def test_rare_words_are_ranked_exactly_common_ones_by_their_rarest_terms_together() -> None:
    """The rows scored: every row holding a rare term; otherwise chains of the rarest terms."""
    rare = keyword.scoring("knowledge", "TRUE", terms=2, chains=0)
    assert "%(k_match)s" in rare and "k_chain" not in rare
    chained = keyword.scoring("knowledge", "TRUE", terms=3, chains=3, singles=1)
    assert all(f"%(k_chain{j})s" in chained for j in range(3)) and "%(k_single0)s" in chained and "%(k_q2)s" in chained
    stats = keyword.corpus(
        [
            {"lexeme": "", "docs": 100.0, "dl_sum": 2000.0},
            {"lexeme": "common", "docs": 90.0, "dl_sum": 0.0},
            {"lexeme": "rare", "docs": 2.0, "dl_sum": 0.0},
        ]
    )
    assert [t.lexeme for t in stats.terms] == ["rare", "common"] and stats.avgdl == 20.0
    assert stats.terms[0].idf > stats.terms[1].idf > 0
    assert keyword.quoted("it's a \\ b") == "'it''s a \\\\ b'"


@pytest.mark.parametrize("query", ["", "the and of", "'; DROP TABLE knowledge; --", "a & b | !c <-> d:*"])
def test_queries_without_terms_or_with_tsquery_syntax_are_only_words(jarvis, query) -> None:
    found = jarvis.search(query=query or "?", scopes=["knowledge"], mode="keyword", limit=5)
    assert found["mode"] == "keyword"


def test_the_definer_functions_put_pg_temp_last_and_uncount_only_conversation_partitions(jarvis) -> None:
    from jarvis.errors import InvalidInput

    with jarvis.stores.postgres.transaction() as conn:
        configs = conn.execute(
            "SELECT proname, proconfig FROM pg_proc WHERE prosecdef AND proname LIKE 'jarvis_%'"
        ).fetchall()
    ours = {
        "jarvis_count_search_terms",
        "jarvis_search_terms_changed",
        "jarvis_search_terms_truncated",
        "jarvis_uncount_conversation_partition",  # migration 017's
        "jarvis_prune_unused_search_terms",  # 022's
        "jarvis_forget_task_requester",  # 029's
        "jarvis_node_exists",
        "jarvis_edge_endpoints_exist",
        "jarvis_drop_edges_of_node",
    }  # 011's, altered by 016
    # 023's and 024's act for every user, for their own statements only (the outbox's row security);
    # 026's and 027's read every user's turns (a recording's, a session's) to keep them one user's
    every_user = {
        "jarvis_queue_detached_row",
        "jarvis_detached_events",
        "jarvis_detach_task_patterns",
        "jarvis_recordings_still_named",
        "jarvis_recording_of_one_user",
        "jarvis_session_keeps_its_user",
        "jarvis_foreign_sessions",
    }
    definers = dict(configs)
    assert definers == {  # every definer
        **{name: ["search_path=pg_catalog, public, pg_temp"] for name in ours},
        **{name: ["search_path=pg_catalog, public, pg_temp", "app.all_users=on"] for name in every_user},
    }
    for table in ("agents", "conversations", "search_term_stats"):
        with pytest.raises(InvalidInput, match="not a partition of conversations"):
            with jarvis.stores.postgres.transaction() as conn:
                conn.execute("SELECT jarvis_uncount_conversation_partition(%s::regclass)", (table,)).fetchall()


def test_on_a_corpus_too_large_to_score_whole_the_rows_holding_every_common_word_come_first(
    jarvis, name, monkeypatch
) -> None:
    """Every query word is common and the words come in pairs, as in the benchmark's text: the
    rows holding all three are found from a sample of the rarest word's rows, not by scoring
    every row that holds one (the corpus counts as large here: EXACT and SAMPLE made small)."""
    monkeypatch.setattr(keyword, "EXACT", 20)
    monkeypatch.setattr(keyword, "SAMPLE", 12)
    agent = jarvis.register_agent(name=f"{name}-archivist", type="letta")
    a, b, c = (f"{name}{word}".replace("-", "") for word in ("quorvex", "blentrid", "caspolin"))
    texts = [f"{a} {b} {c} report {i}" for i in range(5)]  # every word: the best rows
    texts += [f"{a} {b} note {i}" for i in range(35)]  # two words
    texts += [f"{a} memo {i}" for i in range(40)] + [f"{c} log {i}" for i in range(40)]  # one word
    added = jarvis.add_knowledge_many(
        [{"topic": f"{name}-{i}", "content": t, "agent_id": agent["id"]} for i, t in enumerate(texts)]
    )
    try:
        found = jarvis.search(
            query=f"{a} {b} {c}?", scopes=["knowledge"], mode="keyword", limit=10, agent_id=agent["id"]
        )
        best = {hit["item"]["content"] for hit in found["results"][:5]}
        assert best == set(texts[:5])
        assert all(b in hit["item"]["content"] for hit in found["results"])  # then the rows with two
    finally:
        for item_id in added["ids"]:
            jarvis.delete_knowledge(item_id)
        jarvis.terminate_agent(agent["id"])
