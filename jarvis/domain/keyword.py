"""The keyword ranking: BM25 over the stored tsvectors, without counting or scoring every row that holds a query word.

BM25 (Robertson & Zaragoza, 2009) needs the corpus size, the average row length and each
term's document frequency; migration 017 keeps them per table and owner in
``search_term_stats``, updated by triggers, so a search reads them in one indexed lookup
instead of counting them (the first version counted per search, then scored every row
holding any query word: 1.1 s at 100,000 knowledge items whose words are all common).

Which rows are scored:

* when at most ``EXACT`` rows can hold a query term (the corpus is that small, or its terms'
  postings add up to no more), every row holding one: the exact BM25 ranking — one user's
  conversation, one agent's memory, a small knowledge base;
* otherwise, at most ``depth`` rows from each of: the rows holding the rarest term, the two
  rarest together, the three rarest together, and so on (``CHAIN`` terms at most, stopping
  once one finds fewer than ``depth`` rows: it holds the narrower ones' rows), and the rows
  holding each of those terms that is rare (``RARE``). GIN intersects posting lists cheaply,
  and the best BM25 rows are those holding most of a query's rare words. A row holding only the query's common words can be missed; the vector
  ranking fused with this one is there for those (docs/retrieval-notes.md measures both).

Every statement applies the search's filter (and row-level security), so the rows found are
those the caller may see; the statistics are those of the owner's whole corpus (shared
tables: everyone's; conversations: the user's; memory: the agent's), never another owner's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

#: BM25's usual constants (Robertson & Zaragoza, 2009), not fitted to any data.
BM25_K1 = 1.2
BM25_B = 0.75
#: Up to this many rows that may hold a query term, every one holding one is scored.
EXACT = 2000
#: Otherwise, rows holding the 1, 2, ... up to this many rarest terms together are scored...
CHAIN = 8
#: ... and the rows holding each of those terms that is in this many rows or fewer.
RARE = 200
#: At most this many of a query's terms score, the rarest (they weigh most in BM25): each term
#: is one more frequency per scored row, and a 32,000-character query of distinct words would
#: otherwise make one search thousands of terms wide. Common words past these add little.
MAX_TERMS = 32
#: The ranking's statements end after the settings' ``search_statement_timeout_ms`` (the
#: value is an int from the settings, so formatting it in is safe): a search never runs on.
SET_TIMEOUT = "SET LOCAL statement_timeout = {ms}"

#: The query's terms' document frequencies, and the corpus's size and total length (lexeme
#: ''), for one owner or summed over every owner the caller may see.
_TERMS = """
SELECT lexeme, sum(docs)::float8 AS docs, sum(dl_sum)::float8 AS dl_sum
FROM search_term_stats
WHERE scope_table = %(k_table)s AND {owner}
  AND lexeme = ANY(array_append(tsvector_to_array(to_tsvector('english', %(query)s)), ''))
GROUP BY lexeme"""
TERMS_OF_OWNER = _TERMS.format(owner="owner = %(k_owner)s")
TERMS_OF_EVERY_OWNER = _TERMS.format(owner="TRUE")


def scoring(table: str, where: str, *, terms: int, chains: int = 0, singles: int = 0) -> str:
    """The statement that scores rows of *table* that the search's *where* admits and keeps
    the best ``depth``: BM25 over *terms* query terms (``k_q<i>``, one-term tsqueries, with
    their IDF ``k_idf<i>``), each one's frequency weighted and damped by
    ``jarvis_term_frequency`` (migration 017).

    The rows scored: with no *chains*, every row matching ``k_match``. Otherwise at most
    ``depth`` rows matching each of the *chains* tsqueries ``k_chain<j>`` (each narrower than
    the last: once one finds fewer than ``depth`` rows, it holds every row of the narrower
    ones, which are not run), and of the *singles* ``k_single<j>``."""
    pick = "SELECT t.id, t.search_tsv FROM {table} t WHERE t.search_tsv @@ %({match})s::tsquery AND {where}"
    if chains:
        ctes = [f"k_c0 AS MATERIALIZED ({pick.format(table=table, match='k_chain0', where=where)} LIMIT %(depth)s)"]
        for j in range(1, chains):
            gate = f"(SELECT count(*) FROM k_c{j - 1}) >= %(depth)s"
            ctes.append(
                f"k_c{j} AS MATERIALIZED ({pick.format(table=table, match=f'k_chain{j}', where=where)} "
                f"AND {gate} LIMIT %(depth)s)"
            )
        ctes += [
            f"k_s{j} AS MATERIALIZED ({pick.format(table=table, match=f'k_single{j}', where=where)} LIMIT %(depth)s)"
            for j in range(singles)
        ]
        found = " UNION ALL ".join(
            [f"SELECT * FROM k_c{j}" for j in range(chains)] + [f"SELECT * FROM k_s{j}" for j in range(singles)]
        )
        head, rows = f"WITH {', '.join(ctes)} ", f"SELECT DISTINCT ON (id) id, search_tsv FROM ({found}) found"
    else:
        head, rows = "", pick.format(table=table, match="k_match", where=where)
    frequencies = ", ".join(f"jarvis_term_frequency(c.search_tsv, %(k_q{i})s::tsquery) AS f{i}" for i in range(terms))
    score = " + ".join(f"%(k_idf{i})s * f.f{i} * (%(k1)s + 1) / (f.f{i} + f.norm)" for i in range(terms))
    return (
        f"{head}SELECT c.id::text AS id, ({score})::float8 AS score FROM ({rows}) c "
        f"CROSS JOIN LATERAL (SELECT {frequencies}, "
        "%(k1)s * (1 - %(b)s + %(b)s * length(c.search_tsv) / %(k_avgdl)s) AS norm) f "
        "ORDER BY score DESC, c.id LIMIT %(depth)s"
    )


@dataclass(frozen=True, slots=True)
class Term:
    lexeme: str
    docs: float
    idf: float


@dataclass(frozen=True, slots=True)
class Corpus:
    rows: float
    avgdl: float
    terms: list[Term]  # the query's terms found in it, rarest first


def corpus(rows: Sequence[dict[str, Any]]) -> Corpus:
    """The corpus's size and average row length, and the query's terms found in it with their
    IDF, rarest first, from the statistics rows (the corpus's has lexeme '')."""
    whole = next((r for r in rows if r["lexeme"] == ""), None)
    if whole is None or whole["docs"] <= 0:
        return Corpus(0.0, 1.0, [])
    n = whole["docs"]
    found = []
    for r in rows:
        if r["lexeme"] and r["docs"] > 0:
            df = min(r["docs"], n)
            found.append(Term(r["lexeme"], df, math.log(1 + (n - df + 0.5) / (df + 0.5))))
    found.sort(key=lambda t: (t.docs, t.lexeme))
    return Corpus(n, max(whole["dl_sum"] / n, 1.0), found[:MAX_TERMS])


def quoted(lexeme: str) -> str:
    """*lexeme* as a tsquery operand: quoted, never parsed as words or operators."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def rank(
    conn: psycopg.Connection,
    *,
    table: str,
    where: str,
    params: dict[str, Any],
    query: str,
    owner: str | None,
    every_owner: bool,
    depth: int,
    timeout_ms: int,
) -> list[tuple[str, float]]:
    """The best *depth* rows of *table* for *query* by BM25, as (id, score), best first, among
    the rows *where* (with its ``f_*`` *params*) admits. *owner* keys the statistics ('' for
    a shared table); with *every_owner*, they are summed over every owner the caller may see.
    Its statements end after *timeout_ms* (the store raises :class:`StoreTimeout`: 503)."""
    conn.execute(SET_TIMEOUT.format(ms=int(timeout_ms)))
    base = {
        **params,
        "query": query,
        "k_table": table,
        "k_owner": owner or "",
        "k1": BM25_K1,
        "b": BM25_B,
        "depth": depth,
    }
    stats = corpus(conn.execute(TERMS_OF_EVERY_OWNER if every_owner else TERMS_OF_OWNER, base).fetchall())
    if not stats.terms:
        return []
    base["k_avgdl"] = stats.avgdl
    for i, term in enumerate(stats.terms):
        base.update({f"k_q{i}": quoted(term.lexeme), f"k_idf{i}": term.idf})
    lexemes = [t.lexeme for t in stats.terms]
    chains = singles = 0
    if min(sum(t.docs for t in stats.terms), stats.rows) <= EXACT:
        base["k_match"] = " | ".join(quoted(x) for x in lexemes)
    else:
        rarest = stats.terms[:CHAIN]
        chains = len(rarest)
        base.update({f"k_chain{j}": " & ".join(quoted(t.lexeme) for t in rarest[: j + 1]) for j in range(chains)})
        alone = [t.lexeme for t in rarest[1:] if t.docs <= RARE]
        singles = len(alone)
        base.update({f"k_single{j}": quoted(x) for j, x in enumerate(alone)})
    rows = conn.execute(scoring(table, where, terms=len(lexemes), chains=chains, singles=singles), base).fetchall()
    return [(r["id"], r["score"]) for r in rows]
