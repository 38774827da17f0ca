"""Switching to int8 vectors (and back) re-embeds every stored text; the two are never mixed.

Each test gets a database of its own (the re-embed walks whole tables), migrated from scratch.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import SecretStr

from jarvis import embedding_space
from jarvis.connections import Stores
from jarvis.embeddings import Embedder
from jarvis.errors import ConfigurationError
from jarvis.facade import Jarvis
from jarvis.jobs import reembed as reembed_job
from jarvis.migrate import migrate_postgres

INSERT_KNOWLEDGE = "INSERT INTO knowledge (topic, content, embedding) VALUES (%s, %s, %s)"
INSERT_MESSAGE = (
    "INSERT INTO conversations (session_id, user_id, message_type, role, content, embedding) "
    "VALUES ('s', 'ada', 'text', 'user', %s, %s)"
)


@pytest.fixture
def own(settings, fresh_database):
    migrate_postgres(fresh_database)
    own_settings = settings.model_copy(update={"postgres_dsn": SecretStr(fresh_database)})
    stores = Stores(own_settings)
    yield own_settings, stores
    stores.close()


@pytest.fixture(scope="module")
def fp32() -> Embedder:
    return Embedder.shared(backend="onnx")


@pytest.fixture(scope="module")
def int8() -> Embedder:
    return Embedder.shared(backend="onnx-int8")


def _fill(stores: Stores, embedder: Embedder, n: int) -> list[str]:
    texts = [
        f"Note {i}: the {['harbour', 'budget', 'flight', 'invoice'][i % 4]} team met on day {i}." for i in range(n)
    ]
    vectors = embedder.embed_many(texts)
    with stores.postgres.pool.connection() as conn:
        with conn.cursor() as cur:
            cur.executemany(INSERT_KNOWLEDGE, [(f"topic-{i}", t, v) for i, (t, v) in enumerate(zip(texts, vectors))])
            cur.executemany(INSERT_MESSAGE, [(t, v) for t, v in zip(texts[:5], vectors[:5])])
    return texts


def _stored(stores: Stores, table: str) -> tuple[list[str], np.ndarray]:
    with stores.postgres.pool.connection() as conn:
        rows = conn.execute(f"SELECT content, embedding::real[] FROM {table} ORDER BY content").fetchall()
    return [r[0] for r in rows], np.array([r[1] for r in rows], dtype=np.float32)


def _family(stores: Stores) -> dict:
    with stores.postgres.pool.connection() as conn:
        return embedding_space.read(conn)


def test_a_new_store_holds_fp32_and_an_int8_process_is_refused_until_it_is_reembedded(own, fp32, int8) -> None:
    settings, stores = own
    _fill(stores, fp32, 3)
    assert _family(stores)["family"] == "fp32"
    with Jarvis.from_settings(settings, embedder=int8) as jarvis:
        with pytest.raises(ConfigurationError, match=r"holds fp32 vectors.*jarvis reembed --to onnx-int8"):
            jarvis.embedder
    with Jarvis.from_settings(settings, embedder=fp32) as jarvis:
        assert jarvis.embedder is fp32  # the same family: no complaint


def test_reembed_to_int8_is_resumable_reports_progress_and_then_only_int8_serves(own, fp32, int8, monkeypatch) -> None:
    settings, stores = own
    texts = _fill(stores, fp32, 40)
    monkeypatch.setattr(reembed_job, "PAGE", 8)

    class DiesAfterTwoPages(Embedder):
        """The int8 embedder in a process that is killed during its third page."""

        def __init__(self) -> None:
            self.__dict__.update(int8.__dict__)
            self.pages = 0

        def embed_many(self, texts, *, field="texts"):
            self.pages += 1
            if self.pages == 3:
                raise KeyboardInterrupt
            return int8.embed_many(texts, field=field)

    with pytest.raises(KeyboardInterrupt):
        reembed_job.reembed(stores, DiesAfterTwoPages(), progress=lambda line: None)
    halfway = _family(stores)
    assert halfway["family"] == "fp32" and halfway["reembed_to"] == "int8"
    assert halfway["progress"]["knowledge"]["rows"] == 16
    with Jarvis.from_settings(settings, embedder=fp32) as jarvis:  # nobody embeds while it is under way
        with pytest.raises(ConfigurationError, match="re-embed to int8 vectors is under way"):
            jarvis.embedder

    said: list[str] = []
    counts = reembed_job.reembed(stores, int8, progress=said.append)
    assert counts["knowledge"] == 40 and counts["conversations"] == 5
    assert "reembed: knowledge 40/40 done" in said and said[-1].startswith("reembed: done; the store now holds int8")
    stored_texts, stored = _stored(stores, "knowledge")
    expected = int8.embed_many(stored_texts)
    assert sorted(texts) == stored_texts and np.allclose(stored, expected, atol=1e-6)
    assert _family(stores)["family"] == "int8" and _family(stores)["reembed_to"] is None
    with stores.postgres.pool.connection() as conn:  # the projections follow through the outbox
        projected = conn.execute("SELECT count(DISTINCT entity_id) FROM outbox WHERE entity = 'knowledge'").fetchone()[
            0
        ]
    assert projected == 40
    with Jarvis.from_settings(settings, embedder=fp32) as jarvis:
        with pytest.raises(ConfigurationError, match="holds int8 vectors"):
            jarvis.embedder
    with Jarvis.from_settings(settings, embedder=int8) as jarvis:
        assert jarvis.embedder is int8

    back = reembed_job.reembed(stores, fp32, progress=said.append)
    assert back["knowledge"] == 40
    _, stored = _stored(stores, "knowledge")
    assert np.allclose(stored, fp32.embed_many(stored_texts), atol=1e-6)
    assert reembed_job.reembed(stores, fp32, progress=said.append) == {}
    assert said[-1] == "reembed: the store already holds fp32 vectors; nothing to do"
