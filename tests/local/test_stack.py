"""The local stack as its users drive it: `jarvis status`, `down --store`, `up --store`."""

from __future__ import annotations

import json
import socket
import uuid

import pytest

from jarvis import local
from jarvis.config import Settings
from jarvis.errors import StoreStartError
from jarvis.local.process import read_pid
from jarvis.stores.base import ALL_STORES as STORES
from jarvis.stores.health import check_all
from jarvis.stores.neo4j import Neo4jStore


def _status(jarvis_cli) -> tuple[int, dict[str, dict]]:
    result = jarvis_cli("status", "--json")
    return result.returncode, {entry["store"]: entry for entry in json.loads(result.stdout)}


def test_status_reports_all_five_stores_up_with_versions(jarvis_cli) -> None:
    result = jarvis_cli("status")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(STORES)
    assert all(line.split()[1] == "up" for line in lines)
    code, report = _status(jarvis_cli)
    assert code == 0
    assert report["postgres"]["version"].startswith("18")
    assert report["neo4j"]["version"].startswith("Neo4j/5.")
    assert all(entry["latency_ms"] is not None for entry in report.values())


def test_up_is_idempotent(settings: Settings) -> None:
    outcomes = local.up(settings)
    assert {outcome.action for outcome in outcomes} <= {"already up", "external"}


def test_neo4j_can_be_stopped_alone_and_comes_back_with_its_data(settings: Settings, jarvis_cli) -> None:
    marker = str(uuid.uuid4())
    graph = Neo4jStore.connect(settings)
    graph.driver.execute_query("CREATE (:Agent {id: $id, name: 'survivor'})", id=marker)
    graph.close()
    try:
        stopped = jarvis_cli("down", "--store", "neo4j")
        assert stopped.returncode == 0 and "neo4j     stopped" in stopped.stdout, stopped.stderr

        code, report = _status(jarvis_cli)
        assert code != 0
        assert not report["neo4j"]["up"] and report["neo4j"]["detail"]
        assert all(report[name]["up"] for name in STORES if name != "neo4j")

        migrate = jarvis_cli("migrate")
        assert migrate.returncode == 1 and "neo4j: not reachable" in migrate.stderr
        assert "Traceback" not in migrate.stderr

        started = jarvis_cli("up", "--store", "neo4j")
        assert started.returncode == 0 and "neo4j     started" in started.stdout, started.stderr
        assert _status(jarvis_cli)[0] == 0
    finally:
        local.up(settings, ["neo4j"])
        graph = Neo4jStore.connect(settings)
        records, _, _ = graph.driver.execute_query("MATCH (a:Agent {id: $id}) RETURN a.name AS name", id=marker)
        graph.driver.execute_query("MATCH (a:Agent {id: $id}) DETACH DELETE a", id=marker)
        graph.close()
    assert [r["name"] for r in records] == ["survivor"]


def test_qdrant_edge_can_be_marked_down_and_back_up(settings: Settings, jarvis_cli) -> None:
    try:
        assert "qdrant    stopped" in jarvis_cli("down", "--store", "qdrant").stdout
        code, report = _status(jarvis_cli)
        assert code != 0 and not report["qdrant"]["up"]
        assert jarvis_cli("up", "--store", "qdrant").returncode == 0
    finally:
        local.up(settings, ["qdrant"])
    assert _status(jarvis_cli)[0] == 0


def test_down_leaves_alone_a_store_it_did_not_start(settings: Settings, tmp_path) -> None:
    other = settings.model_copy(update={"data_dir": tmp_path})
    assert {outcome.action for outcome in local.down(other, ["redis", "chroma"])} == {"not running"}
    assert all(health.up for health in check_all(settings) if health.store in ("redis", "chroma"))


def test_a_stack_that_cannot_come_up_whole_leaves_nothing_of_itself_running(settings: Settings, tmp_path) -> None:
    """The test session's stack is all or none: when Redis cannot start (here its port is taken
    by something that is not Redis), the PostgreSQL the same call started is stopped again —
    a failed CI run leaves no server behind on its ports."""
    with socket.socket() as squatter, socket.socket() as spare:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        spare.bind(("127.0.0.1", 0))
        postgres_port = spare.getsockname()[1]
        spare.close()
        other = settings.model_copy(
            update={"data_dir": tmp_path, "postgres_port": postgres_port, "redis_port": squatter.getsockname()[1]}
        )
        with pytest.raises(StoreStartError) as refused:
            local.up(other, ["postgres", "redis"], all_or_none=True)
        assert "redis" in str(refused.value)
        assert read_pid(tmp_path, "postgres") is None  # it was started, then stopped
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", postgres_port)) != 0, "PostgreSQL still listens"
    assert all(health.up for health in check_all(settings))  # the session's own stack untouched
