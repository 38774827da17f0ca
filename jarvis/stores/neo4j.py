"""Neo4j: the graph projection (agents, tasks, users, models, capabilities, knowledge)."""

from __future__ import annotations

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired

from jarvis.config import Settings
from jarvis.paths import cypher, cypher_statements
from jarvis.stores.base import Health, map_unavailable, measure

STORE = "neo4j"
UNREACHABLE = (ServiceUnavailable, SessionExpired, AuthError)


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


def ping(drv: Driver) -> str:
    """One real query, without the driver's retries (a probe must answer fast), and the version."""
    with drv.session() as session:
        session.run("RETURN 1").consume()
    return server_version(drv)


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
        with map_unavailable(STORE, *UNREACHABLE):
            ping(self.driver)  # fail fast, before the driver's retries would wait for a dead server
            for statement in statements:
                self.driver.execute_query(statement)
        return len(statements)

    def constraints(self) -> list[dict]:
        records, _, _ = self.driver.execute_query(
            "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties"
        )
        return [record.data() for record in records]

    def indexes(self) -> list[dict]:
        records, _, _ = self.driver.execute_query("SHOW INDEXES YIELD name, labelsOrTypes, properties")
        return [record.data() for record in records]


def probe(settings: Settings) -> Health:
    def query() -> str:
        with driver(settings) as drv:
            return ping(drv)

    return measure(STORE, query)
