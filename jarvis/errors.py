"""One error tree for the whole platform, grouped by cause.

Lower-layer exceptions (psycopg, redis-py, the neo4j driver, chromadb, qdrant) are
translated into these at the store boundary, so callers never catch a driver's class.
"""

from __future__ import annotations


class JarvisError(Exception):
    """Root of every error JARVIS Memory raises on purpose."""


class ConfigurationError(JarvisError):
    """The settings are missing or contradictory."""


class StoreError(JarvisError):
    """Something went wrong talking to one of the five stores."""

    def __init__(self, store: str, message: str) -> None:
        self.store = store
        super().__init__(f"{store}: {message}")


class StoreUnavailable(StoreError):
    """The store does not answer (not started, stopped, or unreachable)."""


class StoreTimeout(StoreError):
    """The store did not answer in time."""


class StoreStartError(StoreError):
    """The local stack could not start a store; the message carries its log's tail."""


class MigrationError(JarvisError):
    """A schema migration could not be applied or was refused."""


class NotFound(JarvisError):
    """The requested entity does not exist."""


class InvalidInput(JarvisError):
    """Input failed validation; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class Conflict(JarvisError):
    """The write contradicts existing data (a duplicate name or port, a finished task)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class LeaseLost(JarvisError):
    """The worker's lease on a task expired and the task may be with another worker now."""
