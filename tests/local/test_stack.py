"""The local stack as its users drive it: `jarvis status`, `down --store`, `up --store`."""

from __future__ import annotations

import json
import uuid

from jarvis import local
from jarvis.config import Settings
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
