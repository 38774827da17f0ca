"""A backup cannot be forged, and a restore is all or nothing.

Each test takes its own copy of one backup, tampers with it as an attacker (or a failing
disk) would, and tries to restore it: the restore is refused, or fails and rolls back, and the
data written after the backup is still there in every store, with ``verify`` clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from jarvis import local
from jarvis.errors import NotFound
from jarvis.jobs import manifest as manifests
from jarvis.jobs.backup import BackupError, _failed, backup, restore
from jarvis.projection.maintenance import verify
from jarvis.stores.neo4j_backup import SwapInterrupted


@pytest.fixture(scope="module")
def original(jarvis, tmp_path_factory) -> Path:
    """One small world and one backup of it, shared by the module (each test copies it)."""
    tag = f"t{uuid.uuid4().hex[:10]}"
    agent = jarvis.register_agent(
        name=f"{tag}-kept",
        type="crewai",
        capabilities=[{"name": f"{tag}-archiving", "description": "Keep safe copies of important records"}],
    )
    first = jarvis.add_knowledge(topic=f"{tag}-a", content="Backups are signed.", agent_id=agent["id"])
    second = jarvis.add_knowledge(topic=f"{tag}-b", content="Restores are staged.", agent_id=agent["id"])
    jarvis.relate_knowledge(first["id"], second["id"])
    jarvis.add_task_pattern(pattern_type=f"{tag}-p", description="copy, verify, swap")
    jarvis.sync()
    return backup(jarvis.stores, tmp_path_factory.mktemp("backups"))


@pytest.fixture
def copy(original, tmp_path) -> Path:
    target = tmp_path / original.name
    shutil.copytree(original, target)
    return target


@pytest.fixture
def written_after(jarvis, name) -> Iterator[dict]:
    """Data the backup does not hold: a refused or failed restore must leave it in place."""
    jarvis.sync()
    agent = jarvis.register_agent(
        name=f"{name}-later",
        type="letta",
        capabilities=[{"name": f"{name}-late", "description": "Arrived after the backup was taken"}],
    )
    knowledge = jarvis.add_knowledge(topic=f"{name}-later", content="Written after the backup.", agent_id=agent["id"])
    jarvis.stores.redis.raw.set(f"{name}:canary", b"still here")
    yield {"agent": agent, "knowledge": knowledge, "redis_key": f"{name}:canary"}
    jarvis.stores.redis.raw.delete(f"{name}:canary")
    with contextlib.suppress(NotFound):  # gone already after a restore that succeeded
        jarvis.delete_knowledge(knowledge["id"])


def _assert_untouched(jarvis, written: dict, *, staged_graph_left: bool = False) -> None:
    """Every store still holds what was written after the backup, and the stores agree."""
    stores = jarvis.stores
    assert jarvis.get_agent(written["agent"]["id"])["name"].endswith("-later")
    assert written["knowledge"]["id"] in stores.get("chroma").ids("knowledge_base")
    assert written["agent"]["id"] in stores.get("neo4j").node_keys("Agent")
    capability_ids = stores.get("qdrant").ids("agent_capabilities")
    assert any(c["agent_id"] == written["agent"]["id"] for c in _capabilities(jarvis, capability_ids))
    assert stores.redis.raw.get(written["redis_key"]) == b"still here"
    assert verify(stores) == []
    if staged_graph_left:  # Neo4j was down when the restore cleaned up: invisible, and removed here
        stores.get("neo4j").driver.execute_query("MATCH (n:JarvisRestoreStaging) DETACH DELETE n")
    _assert_no_staging_left(jarvis)


def _capabilities(jarvis, ids: set[str]) -> list[dict]:
    with jarvis.stores.postgres.pool.connection() as conn:
        rows = conn.execute(
            "SELECT id::text, agent_id::text FROM agent_capabilities WHERE id = ANY(%s::uuid[])", (list(ids),)
        ).fetchall()
    return [{"id": i, "agent_id": a} for i, a in rows]


def _assert_no_staging_left(jarvis) -> None:
    settings = jarvis.stores.settings
    with psycopg.connect(settings.postgres_conninfo_for("postgres")) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert f"{settings.postgres_db}_restore" not in names and f"{settings.postgres_db}_previous" not in names
    assert not [c.name for c in jarvis.stores.get("chroma").api.list_collections() if "__" in c.name]
    assert not [p.name for p in settings.qdrant_path.iterdir() if "__" in p.name]
    staged = (
        jarvis.stores.get("neo4j")
        .driver.execute_query("MATCH (n:JarvisRestoreStaging) RETURN count(n) AS n")
        .records[0]["n"]
    )
    assert staged == 0


def _manifest(directory: Path) -> dict:
    return json.loads((directory / manifests.NAME).read_text())


def _write_manifest(directory: Path, body: dict, *, key) -> None:
    """Write *body* as the manifest, signed with *key* (None: keep whatever MAC it carries)."""
    if key is not None:
        body["mac"] = manifests.mac(body, key=key)
    (directory / manifests.NAME).unlink()
    (directory / manifests.NAME).write_text(json.dumps(body, indent=2))


def _rehash(directory: Path, body: dict, store: str, name: str) -> None:
    body["stores"][store]["files"][name] = manifests.file_facts(directory, name)


def test_backup_files_are_written_0600_in_a_0700_directory(original) -> None:
    assert stat.S_IMODE(original.stat().st_mode) == 0o700
    files = list(original.iterdir())
    assert {f.name for f in files} >= {"manifest.json", "postgres.dump", "redis.jsonl", "neo4j.nodes.jsonl"}
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}


def test_a_manifest_with_recomputed_hashes_but_no_key_is_refused(jarvis, copy, written_after) -> None:
    body = _manifest(copy)
    with open(copy / "chroma.knowledge_base.jsonl", "a", encoding="utf-8") as fh:
        fh.write(
            json.dumps({"id": str(uuid.uuid4()), "embedding": [0.0] * 384, "document": "forged", "metadata": {}}) + "\n"
        )
    _rehash(copy, body, "chroma", "chroma.knowledge_base.jsonl")
    body["stores"]["chroma"]["items"]["knowledge_base"] += 1
    _write_manifest(copy, body, key=None)  # the attacker has no key: the old MAC stays
    with pytest.raises(BackupError, match="bad manifest: the MAC"):
        restore(jarvis.stores, copy)
    body.pop("mac")
    _write_manifest(copy, body, key=None)
    with pytest.raises(BackupError, match="bad manifest: .* carries no MAC"):
        restore(jarvis.stores, copy)
    _assert_untouched(jarvis, written_after)


def test_a_manifest_signed_with_another_key_is_refused(jarvis, copy, written_after) -> None:
    from pydantic import SecretStr

    _write_manifest(copy, _manifest(copy), key=SecretStr("not the key of this installation"))
    with pytest.raises(BackupError, match="bad manifest: the MAC"):
        restore(jarvis.stores, copy)
    _assert_untouched(jarvis, written_after)


def test_the_restore_command_refuses_a_forged_backup_in_one_line(jarvis_cli, copy) -> None:
    body = _manifest(copy)
    body["created_at"] = "2000-01-01T00:00:00+00:00"  # any change, without the key
    _write_manifest(copy, body, key=None)
    result = jarvis_cli("restore", str(copy))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        (
            "jarvis restore: bad manifest: the MAC of manifest.json does not match (altered, or signed with another "
            "JARVIS_BACKUP_KEY)"
        )
    ]


@pytest.mark.parametrize("removed", ["neo4j", "redis"])
def test_a_manifest_that_omits_a_store_is_refused_even_when_signed(
    jarvis, settings, copy, written_after, removed
) -> None:
    body = _manifest(copy)
    del body["stores"][removed]
    _write_manifest(copy, body, key=settings.backup_key)
    with pytest.raises(BackupError, match=f"store\\(s\\) missing: {removed}"):
        restore(jarvis.stores, copy)
    _assert_untouched(jarvis, written_after)


def test_a_flipped_byte_anywhere_in_the_manifest_is_reported_as_a_bad_manifest(jarvis, copy, written_after) -> None:
    pristine = (copy / manifests.NAME).read_bytes()
    positions = sorted(
        {
            0,
            1,
            len(pristine) // 3,
            len(pristine) // 2,
            len(pristine) - 70,
            len(pristine) - 2,
            pristine.index(b'"mac"') + 10,
        }
    )
    for position in positions:
        for flip in (0x01, 0x80):
            tampered = bytearray(pristine)
            tampered[position] ^= flip
            (copy / manifests.NAME).write_bytes(bytes(tampered))
            with pytest.raises(BackupError, match="^bad manifest"):
                manifests.check(copy, key=jarvis.stores.settings.backup_key)
    with pytest.raises(BackupError, match="^restore failed|^bad manifest"):
        restore(jarvis.stores, copy)
    _assert_untouched(jarvis, written_after)


@pytest.mark.parametrize(
    "bad_name",
    ["../outside.jsonl", "/etc/passwd", "a/../../b.jsonl", "sub/redis.jsonl", "..", ".hidden", "redis.jsonl\x00"],
)
def test_a_file_name_that_leaves_the_backup_directory_is_refused_before_anything_is_read(
    jarvis, settings, copy, written_after, bad_name, tmp_path
) -> None:
    canary = tmp_path / "outside.jsonl"
    canary.write_text("never read\n")
    body = _manifest(copy)
    body["stores"]["redis"]["files"][bad_name] = body["stores"]["redis"]["files"].pop("redis.jsonl")
    _write_manifest(copy, body, key=settings.backup_key)  # even a signed manifest cannot name it
    with pytest.raises(BackupError, match="is not a plain name inside the backup directory"):
        restore(jarvis.stores, copy)
    _assert_untouched(jarvis, written_after)


def test_a_symbolic_link_in_the_backup_is_not_followed(jarvis, settings, copy, written_after, tmp_path) -> None:
    outside = tmp_path / "elsewhere.jsonl"
    shutil.copy(copy / "redis.jsonl", outside)
    (copy / "redis.jsonl").unlink()
    os.symlink(outside, copy / "redis.jsonl")
    with pytest.raises(BackupError, match="redis.jsonl"):
        restore(jarvis.stores, copy)
    _assert_untouched(jarvis, written_after)


@pytest.mark.parametrize(
    "field,value",
    [
        ("rel", "RELATED_TO]->(b) WITH b MATCH (n) DETACH DELETE n //"),
        ("rel", "OWNS"),
        ("src_label", "Agent:Admin"),
        ("dst_label", "User) DETACH DELETE b //"),
    ],
)
def test_a_crafted_relationship_type_or_label_is_refused_before_any_cypher(
    jarvis, settings, copy, written_after, field, value
) -> None:
    lines = (copy / "neo4j.relationships.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row[field] = value
    lines[0] = json.dumps(row)
    (copy / "neo4j.relationships.jsonl").write_text("\n".join(lines) + "\n")
    body = _manifest(copy)
    _rehash(copy, body, "neo4j", "neo4j.relationships.jsonl")
    _write_manifest(copy, body, key=settings.backup_key)  # signed: only the schema check stands in the way
    with pytest.raises(
        BackupError, match="neo4j.relationships.jsonl line 1: .*(not one of the schema's|not a node label)"
    ):
        restore(jarvis.stores, copy)
    _assert_untouched(jarvis, written_after)


def test_a_crafted_node_label_is_refused(jarvis, settings, copy, written_after) -> None:
    lines = (copy / "neo4j.nodes.jsonl").read_text().splitlines()
    row = json.loads(lines[-1])
    row["label"] = "Agent {id: 'x'}) DETACH DELETE n //"
    lines[-1] = json.dumps(row)
    (copy / "neo4j.nodes.jsonl").write_text("\n".join(lines) + "\n")
    body = _manifest(copy)
    _rehash(copy, body, "neo4j", "neo4j.nodes.jsonl")
    _write_manifest(copy, body, key=settings.backup_key)
    with pytest.raises(BackupError, match=f"neo4j.nodes.jsonl line {len(lines)}: label .* is not a node label"):
        restore(jarvis.stores, copy)
    _assert_untouched(jarvis, written_after)


@pytest.mark.parametrize(
    "line",
    [
        b"\xff\xfe not text",
        b"[" * 100_000,
        b'{"key": "!!", "dump": "", "pttl": 0}',
        b'{"key": "a2V5", "dump": "AAAA", "pttl": "forever"}',
    ],
)
def test_a_signed_but_malformed_row_is_refused_naming_its_line(jarvis, settings, copy, written_after, line) -> None:
    lines = (copy / "redis.jsonl").read_bytes().splitlines()
    lines.insert(1, line)
    (copy / "redis.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    body = _manifest(copy)
    _rehash(copy, body, "redis", "redis.jsonl")
    body["stores"]["redis"]["items"]["keys"] += 1
    _write_manifest(copy, body, key=settings.backup_key)
    with pytest.raises(BackupError, match="refusing to restore: redis.jsonl line 2: "):
        restore(jarvis.stores, copy)
    _assert_untouched(jarvis, written_after)


def test_a_dump_that_fails_half_way_leaves_the_previous_data(jarvis, settings, copy, written_after) -> None:
    dump = bytearray((copy / "postgres.dump").read_bytes())
    middle = len(dump) // 2
    dump[middle : middle + 64] = bytes(64)  # a damaged stretch in the middle of the archive
    (copy / "postgres.dump").write_bytes(bytes(dump))
    body = _manifest(copy)
    _rehash(copy, body, "postgres", "postgres.dump")
    _write_manifest(copy, body, key=settings.backup_key)  # the checksum is right: pg_restore finds it
    with pytest.raises(BackupError, match="restore failed while loading, nothing was replaced: pg_restore failed"):
        restore(jarvis.stores, copy)
    _assert_untouched(jarvis, written_after)


def test_a_store_that_fails_while_loading_leaves_every_store_as_it_was(jarvis, settings, copy, written_after) -> None:
    local.down(settings, ["chroma"])  # postgres and redis are staged by then; chroma fails
    try:
        with pytest.raises(BackupError, match="restore failed while loading, nothing was replaced"):
            restore(jarvis.stores, copy)
    finally:
        local.up(settings, ["chroma"])
    _assert_untouched(jarvis, written_after)


def test_a_store_that_fails_while_swapping_puts_back_the_stores_already_swapped(
    jarvis, api_jarvis, settings, copy, written_after
) -> None:
    """Neo4j swaps last; when it is down by then, PostgreSQL, Redis, Chroma and Qdrant have
    swapped already and must be swapped back."""

    def progress(message: str) -> None:
        if message.startswith("swapping neo4j"):
            local.down(settings, ["neo4j"])

    try:
        with pytest.raises(
            BackupError, match="restore failed while swapping, nothing was replaced: .*staging copies left in neo4j"
        ):
            restore(jarvis.stores, copy, progress=progress)
    finally:
        local.up(settings, ["neo4j"])
        api_jarvis.stores.postgres.reset()
        api_jarvis.stores.user_postgres.reset()
    _assert_untouched(jarvis, written_after, staged_graph_left=True)


def test_a_graph_swap_interrupted_half_way_is_not_reported_as_nothing_replaced() -> None:
    """Neo4j's swap is batched: once the old graph began to go the failure must say so."""
    interrupted = SwapInterrupted("neo4j: the graph swap stopped after the old graph began to go")
    message = str(_failed("swapping", interrupted, []))
    assert "nothing was replaced" not in message
    assert message.startswith("restore failed while swapping: PostgreSQL, Redis, Chroma and Qdrant hold the previous")
    assert message.endswith("again, but neo4j: the graph swap stopped after the old graph began to go")


def test_a_signed_backup_restores_and_replaces_what_came_after(jarvis, api_jarvis, copy, written_after) -> None:
    try:
        restored = restore(jarvis.stores, copy)
    finally:
        api_jarvis.stores.postgres.reset()
        api_jarvis.stores.user_postgres.reset()
    assert restored["differences"] == 0 and verify(jarvis.stores) == []
    assert written_after["knowledge"]["id"] not in jarvis.stores.get("chroma").ids("knowledge_base")
    assert jarvis.stores.redis.raw.get(written_after["redis_key"]) is None
    _assert_no_staging_left(jarvis)
