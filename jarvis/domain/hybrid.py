"""The PostgreSQL half of a search: keyword ranking, vector fallback, fusion and hydration in one statement.

A scope's search is one round trip to PostgreSQL whatever the mode:

* ``v`` — the vector ranking: the ids and scores the projection (Chroma, Qdrant) returned,
  passed in as arrays, or, when the projection is down or there is none, pgvector over the
  same rows with the same filter;
* ``k`` — the keyword ranking: BM25 over the stored ``search_tsv`` (English full text,
  migration 012), candidates found through its GIN index;
* the two fused — a convex combination of normalised scores — and the best ``limit`` rows
  hydrated, with the filter applied again, so a projection that lags behind an update or a
  delete never returns a row the filter excludes.

Statements are assembled here from fixed fragments (table and column names of
:data:`~jarvis.domain.search.SCOPES`, the filter's own fixed clauses); every value, the query
text included, travels as a parameter.
"""

from __future__ import annotations

from enum import Enum

#: Fusion: ``ALPHA`` x the vector score min-max normalised over its candidates + (1 - ALPHA) x
#: the keyword score divided by the best one (a convex combination of normalised scores; on
#: LoCoMo it beat reciprocal rank fusion, see docs/benchmarks.md). Even weights: not fitted.
ALPHA = 0.5
#: BM25's usual constants (Robertson & Zaragoza, 2009), not fitted to any data.
BM25_K1 = 1.2
BM25_B = 0.75
#: Rows counted, at most, for the corpus size and for each term's document frequency: a term
#: in more rows than this is too common to select candidates (it still adds to their score).
COUNT_CAP = 5000


class Mode(str, Enum):
    """How a text scope ranks: both rankings fused (default), meaning only, or words only."""

    hybrid = "hybrid"
    vector = "vector"
    keyword = "keyword"


#: A term's frequency in a row, weighted by where it occurs (the tsvector's labels, migration
#: 012): the text itself 1, a title-like field (topic, purpose, key) 0.5, a turn's context 0.3.
TERM_FREQUENCY = ("(SELECT sum(CASE w WHEN 'A' THEN 1.0 WHEN 'B' THEN 0.5 WHEN 'C' THEN 0.4 ELSE 0.3 END) "
                  "FROM unnest(u.weights) AS w)")

#: Each lexeme of the query (English configuration, as stored) as a one-term tsquery, quoted
#: as tsquery input wants it (backslashes and quotes escaped), never re-parsed as words.
QUERY_TERMS = r"""k_terms AS (
    SELECT DISTINCT lexeme,
           CAST('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''' AS tsquery) AS k_q
    FROM unnest(tsvector_to_array(to_tsvector('english', %(query)s))) AS lexeme)"""

_V_NORM = ("CASE WHEN max(v_score) OVER () > min(v_score) OVER () THEN (v_score - min(v_score) OVER ()) / "
           "(max(v_score) OVER () - min(v_score) OVER ()) ELSE 1 END AS v_norm")


def _vector_from_projection() -> str:
    return (f"SELECT h.id, h.v_score, {_V_NORM} FROM unnest(%(hit_ids)s::uuid[], %(hit_scores)s::float8[]) "
            "AS h(id, v_score)")


def _vector_from_postgres(table: str, where: str, *, euclid: bool) -> str:
    op = "<->" if euclid else "<=>"
    score = "1 - ((embedding <-> %(vector)s) ^ 2) / 2" if euclid else "1 - (embedding <=> %(vector)s)"
    return (f"SELECT id, v_score, {_V_NORM} FROM ("
            f"SELECT id, {score} AS v_score FROM {table} WHERE {where} "
            f"ORDER BY embedding {op} %(vector)s LIMIT %(depth)s) nearest")


def _keyword(table: str, where: str) -> list[str]:
    """BM25 over the stored tsvectors, as CTEs ending in ``k``. Document frequencies are
    counted in the rows this search may see (its filter, and row-level security), never in
    other users' rows, so no statistic of theirs leaks into a ranking; each count stops at
    ``COUNT_CAP``. Candidates are the rows holding a selective term (all terms if none is)."""
    return [
        QUERY_TERMS,
        f"k_corpus AS (SELECT count(*) AS k_n, coalesce(avg(length(search_tsv)), 1) AS k_avgdl FROM ("
        f"SELECT search_tsv FROM {table} WHERE {where} LIMIT %(cap)s) c)",
        # materialised: each count runs once, however often the CTEs below read it
        f"k_df AS MATERIALIZED (SELECT lexeme, k_q, (SELECT count(*) FROM (SELECT 1 FROM {table} "
        f"WHERE search_tsv @@ k_terms.k_q AND {where} LIMIT %(cap)s) m) AS k_df FROM k_terms)",
        "k_idf AS MATERIALIZED (SELECT lexeme, k_q, ln(1 + (greatest(k_n, k_df) - k_df + 0.5) / (k_df + 0.5)) "
        "AS k_idf, k_df < %(cap)s AS k_selective FROM k_df, k_corpus WHERE k_df > 0)",
        "k_wanted AS (SELECT CAST(string_agg(k_q::text, ' | ') AS tsquery) AS k_q, "
        "(SELECT array_agg(lexeme) FROM k_idf) AS k_lexemes FROM k_idf "
        "WHERE k_selective OR NOT EXISTS (SELECT 1 FROM k_idf WHERE k_selective))",
        # each candidate's tsvector is unnested once, keeping the query's lexemes, whose
        # weighted frequency then meets their IDF
        f"k_scored AS (SELECT t.id, sum(i.k_idf * m.tf * (%(k1)s + 1) / (m.tf + %(k1)s * (1 - %(b)s + %(b)s "
        f"* length(t.search_tsv) / k_avgdl))) AS k_score "
        f"FROM {table} t CROSS JOIN k_wanted CROSS JOIN k_corpus CROSS JOIN LATERAL ("
        f"SELECT u.lexeme, {TERM_FREQUENCY} AS tf FROM unnest(t.search_tsv) AS u "
        f"WHERE u.lexeme = ANY(k_wanted.k_lexemes)) AS m JOIN k_idf i ON i.lexeme = m.lexeme "
        f"WHERE t.search_tsv @@ k_wanted.k_q AND {where} GROUP BY t.id ORDER BY k_score DESC, t.id LIMIT %(depth)s)",
        "k AS (SELECT id, k_score, k_score / max(k_score) OVER () AS k_norm FROM k_scored)",
    ]


def statement(*, table: str, columns: str, where: str, vector: str | None, keyword: bool,
              fuse: bool, euclid: bool = False) -> str:
    """One scope's search. *vector*: ``"projection"`` (ids and scores given as ``hit_ids``,
    ``hit_scores``), ``"postgres"`` (pgvector, ``vector``), or None (keyword only). With
    *fuse* (a hybrid search), the score is the fused one even where one ranking is missing
    (a scope without keywords), so that scopes merge on one scale.

    Parameters: ``limit``, ``depth`` (candidates per ranking), ``query``, ``cap``, ``k1``,
    ``b`` (with *keyword*), ``alpha``, and the filter's ``f_*``."""
    if vector is None and not keyword:
        raise ValueError("a search needs a vector ranking, a keyword ranking or both")
    parts = []
    if vector is not None:
        source = _vector_from_projection() if vector == "projection" else _vector_from_postgres(
            table, where, euclid=euclid)
        parts.append(f"v AS ({source})")
    if keyword:
        parts += _keyword(table, where)
    if vector is not None and keyword:
        fused = ("SELECT id, %(alpha)s * coalesce(v.v_norm, 0) + (1 - %(alpha)s) * coalesce(k.k_norm, 0) AS score, "
                 "v.v_score, k.k_score FROM v FULL JOIN k USING (id)")
    elif vector is not None:
        score = "%(alpha)s * v_norm" if fuse else "v_score"
        fused = f"SELECT id, {score} AS score, v_score, NULL::float8 AS k_score FROM v"
    else:
        score = "(1 - %(alpha)s) * k_norm" if fuse else "k_score"
        fused = f"SELECT id, {score} AS score, NULL::float8 AS v_score, k_score FROM k"
    parts.append(f"fused AS ({fused})")
    return (f"WITH {', '.join(parts)} "
            f"SELECT {columns}, fused.score::float8 AS score, fused.v_score::float8 AS vector_score, "
            f"fused.k_score::float8 AS keyword_score "
            f"FROM fused JOIN {table} t USING (id) WHERE {where} "
            f"ORDER BY fused.score DESC, t.id LIMIT %(limit)s")
