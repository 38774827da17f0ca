"""The outbox keeps users apart like every user-owned table (migration 023): an event names the
row it is about, so a key bound to Bob sees none of Ada's events, cannot delete, update or
forge them, while the projector (the service role, acting for every user) drains them all.

Attacker's tests: each first checks, as the tables' owner, that Ada's events exist — a list
that is empty would make "Bob sees none of them" pass for nothing — then connects as the API's
user role, scoped to Bob."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from jarvis.principal import acting_as

SCOPE = "SELECT set_config('app.current_user', %s, true), set_config('app.all_users', %s, true)"


def admin_rows(jarvis, query: str, *args) -> list[tuple]:
    """*query* as the tables' owner (a superuser on the test stack: no row-level security)."""
    with jarvis.stores.postgres.pool.connection() as conn:
        return conn.execute(query, args).fetchall()


@pytest.fixture(scope="module")
def world(jarvis, api_jarvis) -> Iterator[dict]:
    """Ada writes through the API's user role (her events are hers); Bob exists too."""
    tag = f"obx{uuid.uuid4().hex[:8]}"
    ada, bob = f"{tag}-ada", f"{tag}-bob"
    with acting_as(ada):
        api_jarvis.upsert_user(id=ada, name=ada)
        message = api_jarvis.append_message(session_id=f"{ada}-s", role="user", content="Ada's secret", user_id=ada)
        preference = api_jarvis.add_user_preference(user_id=ada, preference_type="agent", description="Ada likes tea")
        agent = api_jarvis.register_agent(name=f"{ada}-agent", type="letta", owner_user_id=ada)
        task = api_jarvis.create_task(name=f"{ada}-task", type="chat", requested_by=ada)
    with acting_as(bob):
        api_jarvis.upsert_user(id=bob, name=bob)
    about_ada = [message["id"], preference["id"], agent["id"], task["id"]]
    yield {"ada": ada, "bob": bob, "about_ada": about_ada, "agent": agent["id"]}
    jarvis.forget_user(ada)
    jarvis.forget_user(bob)


@pytest.fixture
def adas_events(jarvis, world) -> list[int]:
    """The ids of the outbox rows about Ada's data, as the owner sees them (never empty)."""
    found = [
        r[0]
        for r in admin_rows(
            jarvis, "SELECT id FROM outbox WHERE entity_id = ANY(%s) ORDER BY id", [str(i) for i in world["about_ada"]]
        )
    ]
    assert len(found) >= len(world["about_ada"]), found  # every write of hers left one: not vacuous
    owners = {r[0] for r in admin_rows(jarvis, "SELECT owner_user_id FROM outbox WHERE id = ANY(%s)", found)}
    assert owners == {world["ada"]}
    return found


def as_user(settings, user: str, *, forge_every_user: bool = False) -> psycopg.Connection:
    """A connection as the API's user role, its transaction scoped to *user* (optionally also
    claiming every user, which no policy of this role reads)."""
    conn = psycopg.connect(settings.api_postgres_conninfo)
    conn.execute(SCOPE, (user, "on" if forge_every_user else "off"))
    return conn


@pytest.mark.parametrize("forge", [False, True])
def test_bob_sees_none_of_adas_events(settings, world, adas_events, forge) -> None:
    with as_user(settings, world["bob"], forge_every_user=forge) as conn:
        assert conn.execute("SELECT id FROM outbox WHERE id = ANY(%s)", (adas_events,)).fetchall() == []
        assert conn.execute("SELECT count(*) FROM outbox WHERE owner_user_id = %s", (world["ada"],)).fetchone() == (0,)
        about = [str(i) for i in world["about_ada"]]
        assert conn.execute("SELECT count(*) FROM outbox WHERE entity_id = ANY(%s)", (about,)).fetchone() == (0,)


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM outbox WHERE id = ANY(%s)",
        "UPDATE outbox SET pending_stores = '{}' WHERE id = ANY(%s)",
        "UPDATE outbox SET owner_user_id = NULL WHERE id = ANY(%s)",
    ],
)
def test_bob_cannot_delete_or_change_adas_events(jarvis, settings, world, adas_events, statement) -> None:
    before = admin_rows(jarvis, "SELECT id, pending_stores, owner_user_id FROM outbox WHERE id = ANY(%s)", adas_events)
    with as_user(settings, world["bob"]) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement, (adas_events,))
    after = admin_rows(jarvis, "SELECT id, pending_stores, owner_user_id FROM outbox WHERE id = ANY(%s)", adas_events)
    assert after == before and len(after) == len(adas_events)


def test_ada_sees_her_own_events_and_may_not_delete_them_either(settings, world, adas_events) -> None:
    """The policy is not "nothing at all": Ada's role sees exactly her events (an insert's
    RETURNING needs that); only the projector and the jobs remove events."""
    with as_user(settings, world["ada"]) as conn:
        seen = [r[0] for r in conn.execute("SELECT id FROM outbox WHERE id = ANY(%s) ORDER BY id", (adas_events,))]
        assert seen == adas_events
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", (adas_events,))


@pytest.mark.parametrize("owner", ["ada", None])
def test_bob_cannot_write_an_event_in_anyone_elses_name(jarvis, settings, world, owner) -> None:
    """Not in Ada's name, nor as nobody's (a service-only event, e.g. to pass as a trigger's)."""
    count = "SELECT count(*) FROM outbox WHERE entity_id = %s AND owner_user_id IS NOT DISTINCT FROM %s"
    entity, named = str(world["about_ada"][0]), world[owner] if owner else None
    before = admin_rows(jarvis, count, entity, named)
    with as_user(settings, world["bob"]) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO outbox (entity, entity_id, operation, pending_stores, owner_user_id) "
                "VALUES ('conversation', %s, 'upsert', '{chroma}', %s)",
                (entity, named),
            )
    assert admin_rows(jarvis, count, entity, named) == before


def test_an_event_bob_writes_is_his_without_naming_it(settings, world) -> None:
    with as_user(settings, world["bob"]) as conn:
        row = conn.execute(
            "INSERT INTO outbox (entity, entity_id, operation, pending_stores, processed_at) "
            "VALUES ('user', %s, 'upsert', '{}', CURRENT_TIMESTAMP) RETURNING owner_user_id",
            (world["bob"],),
        ).fetchone()
        conn.rollback()
    assert row == (world["bob"],)


def test_the_service_role_sees_the_events_only_acting_for_every_user(settings, world, adas_events) -> None:
    with psycopg.connect(settings.service_postgres_conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM outbox WHERE id = ANY(%s)", (adas_events,)).fetchone() == (0,)
        conn.rollback()
        conn.execute(SCOPE, ("", "on"))
        assert conn.execute("SELECT count(*) FROM outbox WHERE id = ANY(%s)", (adas_events,)).fetchone() == (
            len(adas_events),
        )


def test_the_projector_as_the_service_role_drains_every_users_events(jarvis, api_jarvis, settings, world) -> None:
    """A pending event of Ada's, and one no user owns: the API's projector (the service role)
    claims, applies and marks both."""
    message = str(world["about_ada"][0])
    with as_user(settings, world["ada"]) as conn:
        (hers,) = conn.execute(
            "INSERT INTO outbox (entity, entity_id, operation, pending_stores, next_attempt_at) "
            "VALUES ('conversation', %s, 'upsert', '{chroma}', CURRENT_TIMESTAMP) RETURNING id",
            (message,),
        ).fetchone()
        conn.commit()
    (services,) = admin_rows(
        jarvis,
        "INSERT INTO outbox (entity, entity_id, operation, pending_stores, next_attempt_at) "
        "VALUES ('conversation', %s, 'upsert', '{chroma}', CURRENT_TIMESTAMP) RETURNING id",
        message,
    )[0]
    pending = admin_rows(
        jarvis,
        "SELECT id, owner_user_id FROM outbox WHERE id IN (%s, %s) AND cardinality(pending_stores) > 0 ORDER BY id",
        hers,
        services,
    )
    assert pending == [(hers, world["ada"]), (services, None)]
    assert api_jarvis.projector.pending() >= 2
    api_jarvis.projector.drain()
    assert admin_rows(
        jarvis, "SELECT count(*) FROM outbox WHERE id IN (%s, %s) AND cardinality(pending_stores) = 0", hers, services
    ) == [(2,)]
