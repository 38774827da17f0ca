"""Neo4j: the graph projection (agents, tasks, users, models, capabilities, knowledge)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pathlib import Path

from neo4j import Driver, GraphDatabase, NotificationDisabledClassification, Record
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable, SessionExpired

from jarvis.config import Settings
from jarvis.paths import cypher, cypher_statements
from jarvis.stores.base import Health, measure, translate_errors
from jarvis.vocabulary import RelationshipType

STORE = "neo4j"
#: The driver's "cannot reach the server" errors; any other error of the server is a refusal.
UNREACHABLE: tuple[type[BaseException], ...] = (ServiceUnavailable, SessionExpired, AuthError)
REFUSED: tuple[type[BaseException], ...] = (Neo4jError,)

#: Node labels and the property that identifies each (Postgres' primary key).
NODE_KEYS: dict[str, str] = {
    "Agent": "id",
    "Task": "id",
    "User": "id",
    "Model": "id",
    "Knowledge": "id",
    "Capability": "name",
}
RELATIONSHIPS = tuple(rel.value for rel in RelationshipType)


# Cypher cannot take a label or relationship type as a parameter, so there is one query per
# label (and per relationship type and endpoint labels), built here from the fixed sets
# above; every value still travels as a parameter.
# A row carries its PostgreSQL version (``row_version``): properties are set only when it is not
# older than the version the node (or relationship) holds, so a late writer changes nothing.
_NOT_OLDER = (
    "CASE WHEN coalesce({v}.row_version, -1) <= coalesce(row.props.row_version, 0) THEN row.props ELSE {{}} END"
)


def _upsert_nodes(label: str) -> str:
    key = NODE_KEYS[label]
    return f"UNWIND $rows AS row MERGE (n:{label} {{{key}: row.key}}) SET n += {_NOT_OLDER.format(v='n')}"


def _delete_nodes(label: str) -> str:
    return f"UNWIND $keys AS key MATCH (n:{label} {{{NODE_KEYS[label]}: key}}) DETACH DELETE n"


def _upsert_edges(rel: str, src: str, dst: str) -> str:
    rel = RelationshipType(rel).value  # formatted into the query: only a known type gets there
    # MATCH, never MERGE, the endpoints: an edge must not create a bare "ghost" node that no
    # PostgreSQL row stands behind. The count tells the caller whether both endpoints were there.
    return (
        f"UNWIND $rows AS row MATCH (a:{src} {{{NODE_KEYS[src]}: row.src}}) "
        f"MATCH (b:{dst} {{{NODE_KEYS[dst]}: row.dst}}) MERGE (a)-[r:{rel}]->(b) SET r += {_NOT_OLDER.format(v='r')} "
        "RETURN count(r) AS written"
    )


class EndpointMissing(Exception):
    """An edge's endpoint node is not in the graph: Neo4j answered, and the edge waits for it."""


def _delete_edges(rel: str, src: str, dst: str) -> str:
    rel = RelationshipType(rel).value
    return (
        f"UNWIND $rows AS row MATCH (a:{src} {{{NODE_KEYS[src]}: row.src}})-[r:{rel}]->"
        f"(b:{dst} {{{NODE_KEYS[dst]}: row.dst}}) DELETE r"
    )


#: Keys per page when listing a label's nodes, and nodes per transaction when emptying the graph:
#: what one transaction holds stays bounded however large the graph grows.
KEY_PAGE = 10_000
DELETE_BATCH = 10_000


def _node_keys(label: str) -> str:
    # Keyset paging on the uniqueness constraint's index: the index gives the order (no sort) and
    # each page starts where the last ended (no SKIP over everything read before).
    key = NODE_KEYS[label]
    return f"MATCH (n:{label}) WHERE n.{key} > $after RETURN n.{key} AS key ORDER BY n.{key} LIMIT $limit"


def _present_nodes(label: str) -> str:
    # Asked by key, never by listing the label: the uniqueness constraint's index seeks each key
    # of the list, so the cost follows the keys asked for, not the size of the graph.
    key = NODE_KEYS[label]
    return f"MATCH (n:{label}) WHERE n.{key} IN $keys RETURN n.{key} AS key"


#: A restore loads the graph under this label before it swaps it in (jarvis.jobs.staging);
#: staged nodes are not part of the projection, so no comparison or export sees them.
RESTORE_STAGING_LABEL = "JarvisRestoreStaging"
EDGE_KEYS = (
    f"MATCH (a)-[r]->(b) WHERE NOT a:{RESTORE_STAGING_LABEL} RETURN type(r) AS rel, labels(a)[0] AS src_label, "
    "coalesce(a.id, a.name) AS src, labels(b)[0] AS dst_label, coalesce(b.id, b.name) AS dst"
)
DELETE_ALL_BATCH = "MATCH (n) WITH n LIMIT $limit DETACH DELETE n RETURN count(*) AS deleted"
#: The one node that says a restore's graph swap is under way, and how far it got (``phase``);
#: it carries the staging label too, so exports, ``verify`` and the projection never see it
#: (written by :mod:`jarvis.stores.neo4j_backup`, read here for ``status`` and ``verify``).
SWAP_MARKER = "JarvisRestoreSwap"
SWAP_PHASE = f"MATCH (m:{SWAP_MARKER}) RETURN m.phase AS phase"
#: What repairs a graph whose swap was interrupted (``status``, ``verify`` and the restore's error say it).
REPAIR_SWAP = "run the restore again, or `jarvis rebuild --store neo4j`"
#: What ``status`` (and ``/health``) say of Neo4j meanwhile.
HALF_SWAPPED = "a restore's graph swap stopped in its {phase} phase: the graph is part old, part new; " + REPAIR_SWAP

#: The restore's labels exist only once a restore has run: on a graph that never held one, Neo4j
#: answers every query naming them with an "unknown label" warning (and "unknown property" for
#: ``phase``), which the driver logs at each ``verify``. The queries that name them, and only
#: those, turn off that one classification of notification; every other warning is still logged.
UNKNOWN_NAMES = (NotificationDisabledClassification.UNRECOGNIZED,)


def driver(settings: Settings) -> Driver:
    """A driver that fails fast when Neo4j is down instead of retrying for half a minute."""
    password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
    return GraphDatabase.driver(
        settings.neo4j_uri,
        auth=(settings.neo4j_user, password),
        connection_timeout=settings.connect_timeout,
        connection_acquisition_timeout=settings.connect_timeout * 2,
        max_transaction_retry_time=settings.connect_timeout,
    )


def server_version(drv: Driver) -> str:
    return drv.get_server_info().agent


def read_naming_restore_labels(drv: Driver, query: str, **params: Any) -> list[Record]:
    """*query*'s records, read once (no retries) without Neo4j's notifications of labels and
    property keys it does not know: *query* names the restore's labels, absent until a restore."""
    with drv.session(notifications_disabled_classifications=UNKNOWN_NAMES) as session:
        return list(session.run(query, params))


def swap_phase(drv: Driver) -> str | None:
    """The phase of an interrupted restore swap (``delete`` or ``relabel``), or None when none is under way."""
    records = read_naming_restore_labels(drv, SWAP_PHASE)
    return str(records[0]["phase"]) if records else None


def ping(drv: Driver) -> str:
    """One real query, without the driver's retries (a probe must answer fast), and the version."""
    with drv.session() as session:
        session.run("RETURN 1").consume()
    return server_version(drv)


@translate_errors(STORE, unreachable=UNREACHABLE, failed=REFUSED)
class Neo4jStore:
    """One driver (it pools its own connections). ``close()`` twice is harmless."""

    def __init__(self, drv: Driver) -> None:
        self.driver = drv

    @classmethod
    def connect(cls, settings: Settings) -> "Neo4jStore":
        return cls(driver(settings))

    def close(self) -> None:
        self.driver.close()

    def health(self) -> Health:
        return measure(STORE, lambda: ping(self.driver))

    def apply_schema(self) -> int:
        """Create the constraints and indexes of ``cypher/schema.cypher`` (all IF NOT EXISTS)."""
        statements = cypher_statements(cypher("schema"))
        ping(self.driver)  # fail fast, before the driver's retries would wait for a dead server
        for statement in statements:
            self.driver.execute_query(statement)
        return len(statements)

    # -- projection writes (idempotent: MERGE keyed by the Postgres key) -------------------
    # They run once, without the driver's retries: a failed write stays in the outbox, whose
    # projector retries with backoff, so a dead Neo4j costs a write one refused connection.
    def _write(self, query: str, **params: object) -> None:
        with self.driver.session() as session:
            session.run(query, params).consume()

    def upsert_nodes(self, label: str, rows: list[dict[str, Any]]) -> None:
        """*rows*: ``{"key": ..., "props": {...}}``; properties are replaced field by field."""
        self._write(_upsert_nodes(label), rows=rows)

    def delete_nodes(self, label: str, node_keys: list[str]) -> None:
        self._write(_delete_nodes(label), keys=node_keys)

    def upsert_edges(
        self, rel: str, src_label: str, dst_label: str, rows: list[dict[str, Any]], *, require_endpoints: bool = True
    ) -> int:
        """*rows*: ``{"src": key, "dst": key, "props": {...}}``; an edge is written only between two
        existing nodes. Returns how many were written.

        Raises:
            EndpointMissing: with *require_endpoints*, some endpoint is not in the graph (yet): the
                outbox retries the event.
        """
        with self.driver.session() as session:
            record = session.run(_upsert_edges(rel, src_label, dst_label), {"rows": rows}).single()
        written = int(record["written"]) if record else 0
        if require_endpoints and written < len(rows):
            raise EndpointMissing(
                f"{len(rows) - written} of {len(rows)} {rel} edges lack an endpoint node "
                f"({src_label} or {dst_label}) in Neo4j"
            )
        return written

    def delete_edges(self, rel: str, src_label: str, dst_label: str, rows: list[dict[str, Any]]) -> None:
        self._write(_delete_edges(rel, src_label, dst_label), rows=rows)

    def node_keys(self, label: str) -> set[str]:
        """The keys of every *label* node, read :data:`KEY_PAGE` at a time (one short transaction
        each). Keys are strings (PostgreSQL's keys as text); a node whose key is not a string is
        not listed."""
        found: set[str] = set()
        after = ""
        while True:
            records, _, _ = self.driver.execute_query(_node_keys(label), after=after, limit=KEY_PAGE)
            found.update(str(r["key"]) for r in records)
            if len(records) < KEY_PAGE:
                return found
            after = records[-1]["key"]

    def present(self, label: str, node_keys: list[str]) -> set[str]:
        """Which of *node_keys* a *label* node holds (an erasure's final check), asked by key.
        As with :meth:`node_keys`, only a string key matches."""
        records, _, _ = self.driver.execute_query(_present_nodes(label), keys=node_keys)
        return {str(r["key"]) for r in records}

    def edge_keys(self) -> set[tuple[str, str, str, str, str]]:
        records = read_naming_restore_labels(self.driver, EDGE_KEYS)
        return {(r["rel"], r["src_label"], str(r["src"]), r["dst_label"], str(r["dst"])) for r in records}

    def delete_everything(self) -> None:
        """Empty the graph (for a rebuild), in batches so no transaction grows unbounded."""
        while self.driver.execute_query(DELETE_ALL_BATCH, limit=DELETE_BATCH).records[0]["deleted"]:
            pass

    def clear(self) -> None:
        """The projection's "empty everything" (:class:`~jarvis.stores.base.ProjectionStore`)."""
        self.delete_everything()

    def flush(self) -> None:
        """Nothing to do: a committed transaction is durable."""

    # -- backup and restore (jarvis/stores/neo4j_backup.py) -----------------------------------
    def export(self, directory: Path) -> dict[str, int]:
        """Every node and relationship into ``neo4j.nodes.jsonl`` / ``neo4j.relationships.jsonl``."""
        from jarvis.stores import neo4j_backup

        nodes, relationships = neo4j_backup.export_neo4j(
            self, directory / neo4j_backup.NEO4J_NODES_FILE, directory / neo4j_backup.NEO4J_RELATIONSHIPS_FILE
        )
        return {"nodes": nodes, "relationships": relationships}

    def stage(self, directory: Path) -> dict[str, int]:
        """Load a backup under the restore's staging label, beside the live graph."""
        from jarvis.stores import neo4j_backup

        return neo4j_backup.stage(self.driver, directory)

    def staged_counts(self) -> dict[str, int]:
        from jarvis.stores import neo4j_backup

        return neo4j_backup.staged_counts(self.driver)

    def swap_staged(self) -> None:
        """Replace the live graph by the staged one, in bounded batches; resumable after a crash
        (:func:`jarvis.stores.neo4j_backup.swap_staged` says how)."""
        from jarvis.stores import neo4j_backup

        neo4j_backup.swap_staged(self.driver)

    def drop_staged(self) -> None:
        """Drop the staged graph, unless an interrupted swap still needs it."""
        from jarvis.stores import neo4j_backup

        neo4j_backup.drop_staged(self.driver)

    def restore_swap_phase(self) -> str | None:
        """The phase of a restore's graph swap that was interrupted, or None: the graph is then
        part old, part new until :data:`REPAIR_SWAP` is done."""
        return swap_phase(self.driver)

    def run_named(self, name: str, **params: object) -> list[dict[str, Any]]:
        """Run ``cypher/<name>.cypher`` with *params*; rows as dicts."""
        records, _, _ = self.driver.execute_query(cypher(name), params)
        return [record.data() for record in records]

    def constraints(self) -> list[dict[str, Any]]:
        records, _, _ = self.driver.execute_query("SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties")
        return [record.data() for record in records]

    def indexes(self) -> list[dict[str, Any]]:
        records, _, _ = self.driver.execute_query("SHOW INDEXES YIELD name, labelsOrTypes, properties")
        return [record.data() for record in records]


def probe(settings: Settings) -> Health:
    """Neo4j's health. Its real query reads the restore swap's marker, so ``detail`` says when
    an interrupted swap left the graph part old, part new (the store still answers: up)."""
    phase: str | None = None

    def query() -> str:
        nonlocal phase
        with driver(settings) as drv:
            phase = swap_phase(drv)
            return server_version(drv)

    health = measure(STORE, query)
    return replace(health, detail=HALF_SWAPPED.format(phase=phase)) if phase else health
