"""The one settings object, read from ``JARVIS_*`` environment variables.

Nothing here runs at import time: call :meth:`Settings.from_env` where settings are
needed. With no variable set, every store points at the embedded local stack under
``JARVIS_DATA_DIR`` (default ``.jarvis`` in the working directory). The local stack's
passwords are generated once by ``jarvis up`` into ``<data dir>/secrets.json`` (mode 0600,
never committed); a password given in the environment always wins.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from jarvis.errors import ConfigurationError

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

#: Secrets the local stack needs, each generated on first use when the environment lacks it.
_LOCAL_SECRETS = (
    "postgres_password",
    "redis_password",
    "neo4j_password",
    "api_db_password",
    "service_db_password",
    "backup_key",
    "console_session_key",
)


class Settings(BaseSettings):
    """Where the five stores are and how to log in to them."""

    model_config = SettingsConfigDict(env_prefix="JARVIS_", extra="ignore")

    data_dir: Path = Field(default=Path(".jarvis"), description="Local stack data, logs, pid files")
    cache_dir: Path = Field(
        default=Path("~/.cache/jarvis"), description="Shared by clones: virtualenv, Maven repository, Neo4j build"
    )
    audio_dir: Path | None = Field(
        default=None, description="Voice recordings: `audio_file_path` names a file in here (default <data dir>/audio)"
    )

    postgres_host: str = "127.0.0.1"
    postgres_port: int = 10000
    postgres_user: str = "postgres"
    postgres_password: SecretStr | None = None
    postgres_db: str = "jarvis_db"
    postgres_dsn: SecretStr | None = Field(
        default=None, description="Full libpq DSN; overrides host/port/user/password/db"
    )
    postgres_pool_max: int = 10

    api_db_user: str = Field(default="jarvis_api", description="The API's Postgres role (row-level security applies)")
    api_db_password: SecretStr | None = None
    service_db_user: str = Field(
        default="jarvis_service",
        description="The API's Postgres role for service keys and the projector (may act for every user)",
    )
    service_db_password: SecretStr | None = None

    write_wait: bool = Field(
        default=True,
        description="Writes wait for every projection (read-your-writes); false returns at commit "
        "and projects milliseconds later (a call's own `wait` overrides it)",
    )

    outbox_max_attempts: int = Field(
        default=5,
        ge=1,
        description="Times a store may refuse an outbox event before the event is dead-lettered for it",
    )
    outbox_keep_applied_hours: float = Field(
        default=24.0,
        ge=0,
        description="Applied outbox events older than this are pruned (never pending or dead ones)",
    )

    api_rate_limit: int = Field(default=600, description="Requests per client and endpoint per window")
    api_rate_window: int = Field(default=60, description="Rate-limit window in seconds (the seed: 60)")
    api_max_body_bytes: int = Field(default=1_048_576, description="Larger request bodies get 413")
    api_auth_failure_limit: int = Field(
        default=30, description="Failed key lookups per client address per rate-limit window; past it, 429"
    )
    api_key_recheck_seconds: float = Field(
        default=5.0, gt=0, description="An open live WebSocket re-checks its key this often (a revoked key closes it)"
    )
    api_health_cache_seconds: float = Field(
        default=1.0, ge=0, description="/health and /metrics probe each store at most once per this many seconds"
    )

    redis_host: str = "127.0.0.1"
    redis_port: int = 10001
    redis_password: SecretStr | None = None
    redis_url: SecretStr | None = Field(default=None, description="Overrides host/port/password")

    neo4j_uri: str = "bolt://127.0.0.1:10002"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None

    chroma_host: str = "127.0.0.1"
    chroma_port: int = 10100
    chroma_token: SecretStr | None = Field(
        default=None, description="Sent as `Authorization: Bearer` to a Chroma behind token auth (compose.yaml)"
    )

    qdrant_url: str | None = Field(default=None, description="A Qdrant server; unset means Qdrant Edge in-process")
    qdrant_api_key: SecretStr | None = None

    embedder: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        default="auto",
        description="The embedder's backend: auto (ONNX when its export passes the start-up check, else torch), "
        "torch, onnx, or onnx-int8 (opt-in: other vectors, needs `jarvis reembed`)",
    )
    backup_key: SecretStr | None = Field(
        default=None, description="HMAC key that signs backup manifests; a restore refuses any other"
    )
    console_session_key: SecretStr | None = Field(
        default=None, description="Seals the console's sign-in cookie (AES-256-GCM); changing it signs everyone out"
    )
    backup_dir: Path | None = Field(
        default=None,
        description="Where the console's backup action writes and lists backups (default <data dir>/backups)",
    )
    memory_encryption_key: SecretStr | None = Field(
        default=None, description="Encrypts agent_memory.value at rest (AES-256-GCM); unset stores plaintext"
    )

    connect_timeout: float = Field(default=3.0, description="Seconds before a store counts as down")
    search_statement_timeout_ms: int = Field(
        default=5000,
        ge=100,
        le=600_000,
        description="PostgreSQL's statement_timeout for a search's keyword ranking (ms); "
        "a search that runs longer answers 503 store_timeout",
    )
    start_timeout: float = Field(default=120.0, description="Seconds `jarvis up` waits per store")

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        """Read the environment, then fill missing local-stack secrets from the data dir."""
        settings = cls(**overrides)  # type: ignore[arg-type]
        settings.data_dir = settings.data_dir.expanduser().resolve()
        settings.cache_dir = settings.cache_dir.expanduser().resolve()
        settings.audio_dir = (settings.audio_dir or settings.data_dir / "audio").expanduser().resolve()
        settings.backup_dir = (settings.backup_dir or settings.data_dir / "backups").expanduser().resolve()
        stored = _load_or_create_secrets(settings.data_dir / "secrets.json")
        for name in _LOCAL_SECRETS:
            if getattr(settings, name) is None:
                setattr(settings, name, SecretStr(stored[name]))
        return settings

    # -- derived connection strings -------------------------------------------------
    @property
    def postgres_conninfo(self) -> str:
        """The libpq connection string (contains the password: never log it)."""
        if self.postgres_dsn is not None:
            return self.postgres_dsn.get_secret_value()
        return _conninfo(
            host=self.postgres_host,
            port=self.postgres_port,
            user=self.postgres_user,
            password=_secret(self.postgres_password),
            dbname=self.postgres_db,
            connect_timeout=max(1, int(self.connect_timeout)),
        )

    @property
    def api_postgres_conninfo(self) -> str:
        """The same database, as the API's role (subject to row-level security)."""
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(self.postgres_conninfo)
        params.update(user=self.api_db_user, password=_secret(self.api_db_password))
        return make_conninfo(**params)

    @property
    def service_postgres_conninfo(self) -> str:
        """The same database, as the API's service role (the only role that may act for every user)."""
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(self.postgres_conninfo)
        params.update(user=self.service_db_user, password=_secret(self.service_db_password))
        return make_conninfo(**params)

    def postgres_conninfo_for(self, dbname: str) -> str:
        """The same server, another database (used to create databases and in tests)."""
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(self.postgres_conninfo)
        params["dbname"] = dbname
        return make_conninfo(**params)

    @property
    def redis_connection_url(self) -> str:
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        password = _secret(self.redis_password)
        auth = f":{password}@" if password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/0"

    @property
    def qdrant_path(self) -> Path:
        """Where Qdrant Edge keeps one shard per collection."""
        return self.data_dir / "qdrant"

    @property
    def uses_qdrant_edge(self) -> bool:
        return self.qdrant_url is None

    def is_local(self, store: str) -> bool:
        """Whether *store* is the embedded local stack's (so ``jarvis up`` may start it)."""
        from urllib.parse import urlparse

        if store == "postgres":
            return self.postgres_dsn is None and self.postgres_host in _LOOPBACK
        if store == "redis":
            return self.redis_url is None and self.redis_host in _LOOPBACK
        if store == "neo4j":
            return urlparse(self.neo4j_uri).hostname in _LOOPBACK
        if store == "chroma":
            return self.chroma_host in _LOOPBACK
        if store == "qdrant":
            return self.uses_qdrant_edge
        raise ValueError(f"unknown store {store!r}")


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _conninfo(**params: object) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(**{k: str(v) for k, v in params.items() if v not in (None, "")})


def _load_or_create_secrets(path: Path) -> dict[str, str]:
    """Local-stack passwords: generated once, kept beside the data they protect."""
    try:
        stored: dict[str, str] = json.loads(path.read_text())
    except FileNotFoundError:
        stored = {}
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read local secrets file {path}: {exc}") from None
    missing = [name for name in _LOCAL_SECRETS if not stored.get(name)]
    if missing:
        for name in missing:
            stored[name] = secrets.token_urlsafe(24)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh)
    return stored
