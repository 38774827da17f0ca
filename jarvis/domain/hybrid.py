"""The PostgreSQL half of a search: keyword ranking, vector fallback, fusion and hydration in one statement.

A scope's search is one round trip to PostgreSQL whatever the mode:

* ``v`` — the vector ranking: the ids and scores the projection (Chroma, Qdrant) returned,
  passed in as arrays, or, when the projection is down or there is none, pgvector over the
  same rows with the same filter;
* ``k`` — the keyword ranking: the stored ``search_tsv`` (English full text, see migration
  012) against the query's words joined by OR, through the GIN index, ranked by
  ``ts_rank`` normalised by document length;
* the two fused by reciprocal rank (``1/(RRF_K + rank)`` summed over the rankings an item is
  in), and the best ``limit`` rows hydrated — with the filter applied again, so a projection
  that lags behind an update or a delete never returns a row the filter excludes.

Statements are assembled here from fixed fragments (table and column names of
:data:`~jarvis.domain.search.SCOPES`, the filter's own fixed clauses); every value, the query
text included, travels as a parameter.
"""

from __future__ import annotations

from enum import Enum

#: Reciprocal rank fusion's constant (Cormack et al., 2009): the usual 60, not fitted to any data.
RRF_K = 60


class Mode(str, Enum):
    """How a text scope ranks: both rankings fused (default), meaning only, or words only."""

    hybrid = "hybrid"
    vector = "vector"
    keyword = "keyword"


#: The query's lexemes (English configuration, as the stored tsvectors) joined by OR: a
#: question shares only some of its words with its answer. plainto_tsquery normalises and
#: quotes them; its AND becomes OR in the normalised text, never in the caller's.
KEYWORD_QUERY = "CAST(replace(plainto_tsquery('english', %(query)s)::text, ' & ', ' | ') AS tsquery)"


def _vector_from_projection() -> str:
    return ("SELECT h.id, h.v_score, h.v_rank FROM unnest(%(hit_ids)s::uuid[], %(hit_scores)s::float8[]) "
            "WITH ORDINALITY AS h(id, v_score, v_rank)")


def _vector_from_postgres(table: str, where: str, *, euclid: bool) -> str:
    op = "<->" if euclid else "<=>"
    score = "1 - ((embedding <-> %(vector)s) ^ 2) / 2" if euclid else "1 - (embedding <=> %(vector)s)"
    return (f"SELECT id, v_score, row_number() OVER (ORDER BY v_score DESC) AS v_rank FROM ("
            f"SELECT id, {score} AS v_score FROM {table} WHERE {where} "
            f"ORDER BY embedding {op} %(vector)s LIMIT %(depth)s) nearest")


def _keyword(table: str, where: str) -> str:
    return (f"SELECT id, k_score, row_number() OVER (ORDER BY k_score DESC) AS k_rank FROM ("
            f"SELECT id, ts_rank(search_tsv, q, 1) AS k_score FROM {table}, {KEYWORD_QUERY} AS q "
            f"WHERE search_tsv @@ q AND {where} ORDER BY k_score DESC LIMIT %(depth)s) matched")


def statement(*, table: str, columns: str, where: str, vector: str | None, keyword: bool,
              fuse: bool, euclid: bool = False) -> str:
    """One scope's search. *vector*: ``"projection"`` (ids and scores given as ``hit_ids``,
    ``hit_scores``), ``"postgres"`` (pgvector, ``vector``), or None (keyword only). With
    *fuse*, the score is the reciprocal-rank one even for a single ranking, so that a hybrid
    search merges scopes that have keywords with scopes that have none on one scale.

    Parameters: ``limit``, ``depth`` (candidates per ranking), ``query`` (with *keyword*),
    ``rrf_k``, and the filter's ``f_*``."""
    if vector is None and not keyword:
        raise ValueError("a search needs a vector ranking, a keyword ranking or both")
    parts, ranked = [], []
    if vector is not None:
        source = _vector_from_projection() if vector == "projection" else _vector_from_postgres(
            table, where, euclid=euclid)
        parts.append(f"v AS ({source})")
        ranked.append("v")
    if keyword:
        parts.append(f"k AS ({_keyword(table, where)})")
        ranked.append("k")
    if ranked == ["v"]:
        score = "1.0 / (%(rrf_k)s + v_rank)" if fuse else "v_score"
        fused = f"SELECT id, {score} AS score, v_score, NULL::float8 AS k_score FROM v"
    elif ranked == ["k"]:
        score = "1.0 / (%(rrf_k)s + k_rank)" if fuse else "k_score"
        fused = f"SELECT id, {score} AS score, NULL::float8 AS v_score, k_score FROM k"
    else:
        fused = ("SELECT id, coalesce(1.0 / (%(rrf_k)s + v.v_rank), 0) + coalesce(1.0 / (%(rrf_k)s + k.k_rank), 0) "
                 "AS score, v.v_score, k.k_score FROM v FULL JOIN k USING (id)")
    parts.append(f"fused AS ({fused})")
    return (f"WITH {', '.join(parts)} "
            f"SELECT {columns}, fused.score::float8 AS score, fused.v_score::float8 AS vector_score, "
            f"fused.k_score::float8 AS keyword_score "
            f"FROM fused JOIN {table} t USING (id) WHERE {where} "
            f"ORDER BY fused.score DESC, t.id LIMIT %(limit)s")
