"""API keys: created once and shown once, stored as a SHA-256 hash, with scopes, revocable.

A key is ``jm_<prefix>_<secret>`` with 256 random bits, so a fast hash is enough (there is
nothing to brute-force) and lookup is by the prefix.

A process remembers a key it has verified for :data:`AUTH_CACHE_SECONDS`, so a request does
not pay a PostgreSQL round trip to authenticate. Revoking a key forgets it at once in the
revoking process; other processes (another API worker, after ``jarvis keys revoke``) stop
accepting it within :data:`AUTH_CACHE_SECONDS`. A well-formed key that PostgreSQL refused is
remembered as refused for as long, so repeating a wrong key costs no query either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import PoolTimeout

from jarvis.clock import SYSTEM_CLOCK, Clock
from jarvis.errors import InvalidInput, NotFound, StoreUnavailable
from jarvis.stores.postgres import PostgresStore

SCOPES = ("read", "write", "admin", "backup")

INSERT_KEY = """
INSERT INTO api_keys (name, prefix, key_hash, scopes, user_id) VALUES (%s, %s, %s, %s, %s)
RETURNING id, name, prefix, scopes, user_id, created_at
"""
FIND_KEY = "SELECT id, name, key_hash, scopes, user_id FROM api_keys WHERE prefix = %s AND revoked_at IS NULL"
# At most one write a minute per key, so authenticating stays a read on the hot path.
TOUCH_KEY = """
UPDATE api_keys SET last_used_at = CURRENT_TIMESTAMP
WHERE id = %s AND (last_used_at IS NULL OR last_used_at < CURRENT_TIMESTAMP - interval '1 minute')
"""
LIST_KEYS = """
SELECT id, name, prefix, scopes, user_id, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at
"""
REVOKE_KEY = """
UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE (id::text = %(key)s OR prefix = %(key)s) AND revoked_at IS NULL
RETURNING id
"""
#: A forgotten user's keys: revoked, never deleted (the record of who had access stays).
#: Only keys created up to *before* (the erasure's time): a key made for the id afterwards is
#: a new grant, not a leftover.
REVOKE_USER_KEYS = """
UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP
WHERE user_id = %(user)s AND revoked_at IS NULL AND created_at <= %(before)s RETURNING id::text
"""
KEYS_OF_USER = """
SELECT id::text, revoked_at IS NULL AS live FROM api_keys
WHERE user_id = %(user)s AND created_at <= %(before)s ORDER BY created_at
"""


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    scopes: tuple[str, ...]
    user_id: str | None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


AUTH_CACHE_SECONDS = 5.0


class _VerifiedKeys:
    """Keys this process verified lately, by hash (never the key itself); bounded."""

    def __init__(self, *, ttl: float, size: int = 10_000, clock: Clock = SYSTEM_CLOCK) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, ApiKey]] = {}

    def get(self, key_hash: str) -> ApiKey | None:
        hit = self._keys.get(key_hash)
        return hit[1] if hit is not None and hit[0] > self.clock.monotonic() else None

    def put(self, key_hash: str, key: ApiKey) -> None:
        with self._lock:
            if len(self._keys) >= self.size:
                self._keys.clear()
            self._keys[key_hash] = (self.clock.monotonic() + self.ttl, key)

    def drop(self, key_hash: str) -> None:
        with self._lock:
            self._keys.pop(key_hash, None)

    def forget(self) -> None:
        with self._lock:
            self._keys.clear()


class _RefusedKeys:
    """Hashes of well-formed keys PostgreSQL refused lately (unknown or revoked); bounded."""

    def __init__(self, *, ttl: float, size: int = 10_000, clock: Clock = SYSTEM_CLOCK) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def __contains__(self, key_hash: str) -> bool:
        until = self._until.get(key_hash)
        return until is not None and until > self.clock.monotonic()

    def add(self, key_hash: str) -> None:
        with self._lock:
            if len(self._until) >= self.size:
                self._until.clear()
            self._until[key_hash] = self.clock.monotonic() + self.ttl


_verified = _VerifiedKeys(ttl=AUTH_CACHE_SECONDS)
_refused = _RefusedKeys(ttl=AUTH_CACHE_SECONDS)


def create_key(pg: PostgresStore, *, name: str, scopes: list[str], user_id: str | None = None) -> tuple[str, dict]:
    """Return (the key, to show once; its stored record)."""
    if not name or len(name) > 255:
        raise InvalidInput("name", "must be 1 to 255 characters")
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise InvalidInput("scopes", f"must be some of {', '.join(SCOPES)}")
    prefix = secrets.token_hex(6)
    key = f"jm_{prefix}_{secrets.token_urlsafe(32)}"
    with pg.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        record = cur.execute(INSERT_KEY, (name, prefix, _hash(key), list(dict.fromkeys(scopes)), user_id)).fetchone()
    return key, record


def _parts(key: str | None) -> list[str] | None:
    parts = key.split("_", 2) if key else []
    return parts if len(parts) == 3 and parts[0] == "jm" and 0 < len(key) <= 200 else None


def well_formed(key: str | None) -> bool:
    """Whether *key* has the shape of one of our keys (anything else is refused without a query)."""
    return _parts(key) is not None


def refused_lately(key: str | None) -> bool:
    """Whether PostgreSQL refused *key* in the last :data:`AUTH_CACHE_SECONDS` (no I/O)."""
    return _parts(key) is not None and _hash(key) in _refused  # type: ignore[arg-type]


def remembered(key: str | None) -> ApiKey | None:
    """The key if this process verified it in the last :data:`AUTH_CACHE_SECONDS` (no I/O:
    the API's event loop asks this first and goes to PostgreSQL only when it says None)."""
    return _verified.get(_hash(key)) if _parts(key) else None


def authenticate(pg: PostgresStore, key: str, *, fresh: bool = False) -> ApiKey | None:
    """The live key matching *key*, or None (unknown, malformed or revoked).

    With *fresh*, PostgreSQL is asked even for a key verified lately (an open WebSocket
    re-checks its key so): a key found revoked is then forgotten by this process at once.
    """
    if (parts := _parts(key)) is None:
        return None
    key_hash = _hash(key)
    if not fresh and (known := _verified.get(key_hash)) is not None:
        return known
    # Within the connect timeout, and as StoreUnavailable: with PostgreSQL down every keyed
    # request must answer 503 quickly, not a 500 after the pool's longer wait.
    try:
        with pg.pool.connection(timeout=pg.timeout) as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(FIND_KEY, (parts[1],)).fetchone()
            if row is None or not hmac.compare_digest(row["key_hash"], key_hash):
                _verified.drop(key_hash)
                _refused.add(key_hash)
                return None
            cur.execute(TOUCH_KEY, (row["id"],))
    except (PoolTimeout, psycopg.OperationalError) as exc:
        if isinstance(exc, psycopg.OperationalError):
            pg.check_idle()
        raise StoreUnavailable("postgres", f"cannot check the API key: {type(exc).__name__}") from None
    found = ApiKey(id=str(row["id"]), name=row["name"], scopes=tuple(row["scopes"]), user_id=row["user_id"])
    _verified.put(key_hash, found)
    return found


def list_keys(pg: PostgresStore) -> list[dict]:
    with pg.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LIST_KEYS).fetchall()


def revoke_key(pg: PostgresStore, key_id_or_prefix: str) -> None:
    with pg.pool.connection() as conn:
        if conn.execute(REVOKE_KEY, {"key": key_id_or_prefix}).fetchone() is None:
            raise NotFound(f"no live API key {key_id_or_prefix!r}")
    _verified.forget()


def revoke_user_keys(pg: PostgresStore, user_id: str, *, before: datetime) -> list[str]:
    """Revoke every live key bound to *user_id* created up to *before* (a user being
    forgotten); return their ids. This process forgets them at once; other processes
    within :data:`AUTH_CACHE_SECONDS`, an open WebSocket within its recheck interval.
    """
    with pg.pool.connection(timeout=pg.timeout) as conn:
        revoked = [row[0] for row in conn.execute(REVOKE_USER_KEYS, {"user": user_id, "before": before}).fetchall()]
    if revoked:
        _verified.forget()
    return revoked


def keys_of_user(pg: PostgresStore, user_id: str, *, before: datetime) -> dict[str, bool]:
    """Every key bound to *user_id* created up to *before*: id -> still live."""
    with pg.pool.connection(timeout=pg.timeout) as conn:
        return {row[0]: row[1] for row in conn.execute(KEYS_OF_USER, {"user": user_id, "before": before}).fetchall()}
