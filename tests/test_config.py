"""Settings: the environment wins, secrets stay secret, local secrets are private."""

from __future__ import annotations

import stat

from jarvis.config import Settings
from tests.conftest import DEFAULT_PORTS, stack_environment


def test_with_nothing_set_every_store_is_the_local_stack(tmp_path, monkeypatch) -> None:
    for name in (
        "JARVIS_POSTGRES_PASSWORD",
        "JARVIS_REDIS_PASSWORD",
        "JARVIS_NEO4J_PASSWORD",
        "JARVIS_QDRANT_URL",
        *stack_environment(0),
    ):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env(data_dir=tmp_path)
    assert all(settings.is_local(store) for store in ("postgres", "redis", "neo4j", "chroma", "qdrant"))
    assert "port=10000" in settings.postgres_conninfo
    assert settings.redis_connection_url.endswith("@127.0.0.1:10001/0")
    assert settings.neo4j_uri == "bolt://127.0.0.1:10002" and settings.chroma_port == 10100
    secrets_file = tmp_path / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert Settings.from_env(data_dir=tmp_path).postgres_password == settings.postgres_password


def test_the_environment_overrides_local_secrets_and_repr_hides_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JARVIS_NEO4J_PASSWORD", "from-the-environment")
    monkeypatch.setenv("JARVIS_QDRANT_URL", "http://qdrant.internal:6333")
    settings = Settings.from_env(data_dir=tmp_path)
    assert settings.neo4j_password.get_secret_value() == "from-the-environment"
    assert "from-the-environment" not in repr(settings)
    assert not settings.is_local("qdrant") and not settings.uses_qdrant_edge


def test_the_suite_runs_on_a_stack_of_its_own(settings: Settings) -> None:
    """The session's stack is never a user's: its own data directory, no default port."""
    assert settings.data_dir.parent.name == ".jarvis-test"
    ports = {
        settings.postgres_port,
        settings.redis_port,
        settings.chroma_port,
        int(settings.neo4j_uri.rsplit(":", 1)[1]),
    }
    assert not ports & DEFAULT_PORTS
