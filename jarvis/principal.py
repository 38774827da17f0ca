"""Whose data the current call may see: set by the API per request, applied by PostgreSQL.

In-process library users act for every user (the default). The API acts for the user its
key is bound to; each transaction then carries ``app.current_user`` and row-level security
hides every other user's conversations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str | None = None  # None: not bound to one user

    @property
    def all_users(self) -> bool:
        return self.user_id is None


_current: ContextVar[Principal] = ContextVar("jarvis_principal", default=Principal())

SCOPE_TRANSACTION = (
    "SELECT set_config('app.current_user', %s, true), set_config('app.all_users', %s, true)"
)


def current() -> Principal:
    return _current.get()


@contextmanager
def acting_as(user_id: str | None) -> Iterator[Principal]:
    """Run the enclosed calls for *user_id* (None: for every user)."""
    token = _current.set(Principal(user_id))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def scope_transaction(conn: psycopg.Connection, principal: Principal | None = None) -> None:
    """Tell PostgreSQL, for the transaction now open on *conn*, whose rows it may show."""
    who = principal or current()
    conn.execute(SCOPE_TRANSACTION, (who.user_id or "", "on" if who.all_users else "off"))
