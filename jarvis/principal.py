"""Whose data the current call may see: set by the API per request, applied by PostgreSQL.

Three principals exist. A key bound to a user acts for that user only (``Principal("ada")``);
a service key, the projector and the jobs act for every user (``EVERY_USER``); and a call that
names nobody acts for nobody (``NOBODY``) when the facade serves the API, so code that forgets
to say whose call it is sees no user's rows instead of everyone's.

The principal lives in a context variable: it follows the call into ``copy_context().run``
but not into a thread pool by itself — code that fans out (a multi-scope search) carries it
with :func:`carried`. Each PostgreSQL transaction then says who it is for
(``app.current_user``, ``app.all_users``), and row-level security does the rest; only the
service role's policies read ``app.all_users`` (see ``migrations/008_ownership.sql``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from jarvis.errors import Forbidden

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str | None = None  # None: not bound to one user (acts for every user)

    @property
    def all_users(self) -> bool:
        return self.user_id is None

    @property
    def bound(self) -> bool:
        return self.user_id is not None


EVERY_USER = Principal()
#: Bound to no user at all: sees no user-owned row and may write none.
NOBODY = Principal(user_id="")

_current: ContextVar[Principal | None] = ContextVar("jarvis_principal", default=None)

SCOPE_TRANSACTION = "SELECT set_config('app.current_user', %s, true), set_config('app.all_users', %s, true)"


def current() -> Principal | None:
    """The principal the enclosing :func:`acting_as` named; None when nobody named one."""
    return _current.get()


@contextmanager
def acting_as(user_id: str | None) -> Iterator[Principal]:
    """Run the enclosed calls for *user_id* (None: for every user)."""
    token = _current.set(Principal(user_id))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def carried(fn: Callable[..., T]) -> Callable[..., T]:
    """*fn*, to run on another thread with the caller's principal (a fresh copy of the caller's
    context for each call: one context cannot be entered by two threads at once)."""
    context = copy_context()
    return lambda *args, **kwargs: context.copy().run(fn, *args, **kwargs)


def own_user(who: Principal, requested: str | None, *, field: str) -> str | None:
    """The user a write by *who* is attributed to: a bound caller's own user (also when it
    named none), or what an unbound caller asked for.

    Raises:
        Forbidden: a caller bound to one user named another (*field* says where).
    """
    if who.all_users:
        return requested
    if requested not in (None, who.user_id):
        raise Forbidden(field, f"this caller acts for user {who.user_id!r} only")
    return who.user_id


def scope_transaction(conn: psycopg.Connection, principal: Principal | None = None) -> None:
    """Tell PostgreSQL, for the transaction now open on *conn*, whose rows it may show."""
    who = principal or current() or EVERY_USER
    conn.execute(SCOPE_TRANSACTION, (who.user_id or "", "on" if who.all_users else "off"))


def scope_for(who: Principal) -> Callable[[psycopg.Connection], Any]:
    return lambda conn: scope_transaction(conn, who)
