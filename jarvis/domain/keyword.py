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
* otherwise, the rows holding most of the rarest terms together. Call level *j* the rows
  holding the *j* + 1 rarest terms (``CHAIN`` terms at most; each level holds the next one's
  rows). The rows scored are ``SAMPLE`` rows of level 0, then ``depth`` rows of a start level
  and of each longer one while the last was full (once one finds fewer than ``depth`` rows, it
  holds the longer ones' rows), plus the rows holding each chained term that is rare
  (``RARE``). GIN intersects posting lists cheaply, and the best BM25 rows are those holding
  most of a query's rare words. A row holding only the query's common words can be missed; the
  vector ranking fused with this one is there for those (docs/retrieval-notes.md measures both).

The start level is estimated from the sample: the longest level that ``MIN_HITS`` sampled rows
hold and whose share of the sample, times the rows holding the rarest term, reaches ``depth``.
Each GIN scan reads its terms' whole posting lists (0.4-1.2 ms each on the benchmark's text at
100,000 items, where every word is in 1/16 of the rows and the words of a phrase always come
together); walking up from level 1, one level a scan, took four or five scans there, starting
at the estimate takes two (docs/benchmark-notes.md, item 25). When the estimate is too long a
level, the start level finds fewer than ``depth`` rows and the shorter levels are not read:
the sample stands in for them.

Every statement applies the search's filter (and row-level security), so the rows found are
those the caller may see; the statistics are those of the owner's whole corpus (shared
tables: everyone's; conversations: the user's; memory: the agent's), never another owner's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
#: Rows of level 0 read first, scored, and used to estimate each longer level's size (the first
#: ones the scan meets: their order in the table says nothing about their words).
SAMPLE = 50
#: A level counts as estimated only when this many sampled rows hold it (one is too noisy).
MIN_HITS = 2
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


_PICK = "SELECT t.id, t.search_tsv FROM {table} t WHERE t.search_tsv @@ %({match})s::tsquery AND {where}"


def _start_level(chains: int) -> str:
    """The longest level that at least ``MIN_HITS`` sampled rows hold and that is estimated to
    hold ``depth`` rows: its share of the sample times the rows holding the rarest term
    (``k_rarest``; the sample's own count when it holds them all), else level 0."""
    scale = "CASE WHEN e.sampled >= %(k_sample)s THEN %(k_rarest)s / e.sampled ELSE 1 END"
    cases = " ".join(
        f"WHEN e.level{j} >= {MIN_HITS} AND e.level{j} * {scale} >= %(depth)s THEN {j}"
        for j in range(chains - 1, 0, -1)
    )
    kept = ", ".join(
        f"count(*) FILTER (WHERE s.search_tsv @@ %(k_chain{j})s::tsquery) AS level{j}" for j in range(1, chains)
    )
    return (
        f"k_est AS MATERIALIZED (SELECT count(*) AS sampled, {kept} FROM k_c0 s), "
        f"k_start AS MATERIALIZED (SELECT CASE {cases} ELSE 0 END AS level FROM k_est e)"
    )


def scoring(table: str, where: str, *, terms: int, chains: int = 0, singles: int = 0) -> str:
    """The statement that scores rows of *table* that the search's *where* admits and keeps
    the best ``depth``: BM25 over *terms* query terms (``k_q<i>``, one-term tsqueries, with
    their IDF ``k_idf<i>``), each one's frequency weighted and damped by
    ``jarvis_term_frequency`` (migration 017).

    The rows scored: with no *chains*, every row matching ``k_match``. Otherwise the
    ``k_sample`` rows of level 0 (``k_chain0``, the rarest term) read first; from them the
    start level (:func:`_start_level`), whose ``depth`` rows are read, then those of each
    longer level while the last one was full (``k_chain<j>``, *j* < *chains*); and ``depth``
    rows of each of the *singles* ``k_single<j>``."""
    if chains:
        ctes = [f"k_c0 AS MATERIALIZED ({_PICK.format(table=table, match='k_chain0', where=where)} LIMIT %(k_sample)s)"]
        if chains > 1:
            ctes.append(_start_level(chains))
        for j in range(1, chains):
            start = "(SELECT level FROM k_start)"
            gate = f"({start} = {j} OR ({start} < {j} AND (SELECT count(*) FROM k_c{j - 1}) >= %(depth)s))"
            pick = _PICK.format(table=table, match=f"k_chain{j}", where=where)
            ctes.append(f"k_c{j} AS MATERIALIZED ({pick} AND {gate} LIMIT %(depth)s)")
        ctes += [
            f"k_s{j} AS MATERIALIZED ({_PICK.format(table=table, match=f'k_single{j}', where=where)} LIMIT %(depth)s)"
            for j in range(singles)
        ]
        names = [f"k_c{j}" for j in range(chains)] + [f"k_s{j}" for j in range(singles)]
        found = " UNION ALL ".join(f"SELECT * FROM {name}" for name in names)
        head, rows = f"WITH {', '.join(ctes)} ", f"SELECT DISTINCT ON (id) id, search_tsv FROM ({found}) found"
    else:
        head, rows = "", _PICK.format(table=table, match="k_match", where=where)
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
) -> Callable[[], list[tuple[str, float]]]:
    """The best *depth* rows of *table* for *query* by BM25, as (id, score), best first, among
    the rows *where* (with its ``f_*`` *params*) admits. *owner* keys the statistics ('' for
    a shared table); with *every_owner*, they are summed over every owner the caller may see.
    Its statements end after *timeout_ms* (the store raises :class:`StoreTimeout`: 503).

    The rows come from the function returned, to be called once the caller's transaction block
    has ended: in pipeline mode the scoring statement then travels with the ``COMMIT``, one
    round trip instead of two."""
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
        return list
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
        # level 0 is read whole when it is that small (every longer level's rows are in it)
        base.update(k_sample=max(SAMPLE, depth), k_rarest=rarest[0].docs)
        if rarest[0].docs <= depth:
            chains = 1
    cursor = conn.execute(scoring(table, where, terms=len(lexemes), chains=chains, singles=singles), base)
    return lambda: [(r["id"], r["score"]) for r in cursor.fetchall()]
