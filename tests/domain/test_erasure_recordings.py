"""A recording belongs to the user whose turn named it first (migration 026): Bob's message may
not name Ada's recording, so erasing his session or himself never touches her file, and her
erasure removes it. A turn written before 026 may still name another user's file: the file
goes with the last row, of any user, that names it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvis.audio_files import remove_recordings, user_folder
from jarvis.errors import Forbidden
from jarvis.principal import acting_as


def voice(api, key: dict[str, str], session: str, path: str, **extra) -> None:
    message = {"session_id": session, "role": "user", "content": "x", "message_type": "voice", "audio_file_path": path}
    response = api.post("/api/v1/conversations/messages", headers=key, json={**message, **extra})
    assert response.status_code == 201, response.text


@pytest.fixture
def ada_recording(jarvis, name) -> Iterator[tuple[str, Path]]:
    """Ada's folder in the audio directory with rec1.wav in it: (its name there, the file)."""
    folder = jarvis.settings.audio_dir / f"{name}-ada"
    folder.mkdir(parents=True, exist_ok=True)
    recording = folder / "rec1.wav"
    recording.write_bytes(b"RIFF Ada's voice")
    yield f"{name}-ada/rec1.wav", recording
    shutil.rmtree(folder, ignore_errors=True)


def name_as_before_026(jarvis, user: str, session: str, path: str) -> None:
    """Make *user*'s turns in *session* name *path*, as a row written before migration 026 could
    (the owner's connection, its triggers off for this one statement's session)."""
    with jarvis.stores.postgres.pool.connection() as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        changed = conn.execute(
            "UPDATE conversations SET audio_file_path = %s WHERE user_id = %s AND session_id = %s",
            (path, user, session),
        ).rowcount
    assert changed >= 1


@pytest.fixture
def ada_and_bob(api, make_key, name) -> Iterator[tuple[str, str, dict[str, str], dict[str, str]]]:
    """Ada and Bob, each with a read-write key bound to them: (ada, bob, her key, his key); both
    erased afterwards."""
    ada, bob = f"{name}-ada", f"{name}-bob"
    admin = make_key("admin")
    yield ada, bob, make_key("read", "write", user=ada), make_key("read", "write", user=bob)
    for user in (ada, bob):
        api.delete(f"/api/v1/users/{user}", headers=admin)


def test_bob_cannot_name_adas_recording_so_erasing_himself_never_touches_it(
    api, jarvis, ada_and_bob, ada_recording
) -> None:
    path, recording = ada_recording
    ada, bob, ada_key, bob_key = ada_and_bob
    voice(api, ada_key, f"{ada}-v", path)
    message = {"session_id": f"{bob}-v", "role": "user", "content": "x", "message_type": "voice"}
    refused = api.post("/api/v1/conversations/messages", headers=bob_key, json={**message, "audio_file_path": path})
    assert refused.status_code == 422, refused.text  # his key names only his own folder
    assert refused.json()["error"]["field"] == "audio_file_path"
    assert f"'{bob}/'" in refused.json()["error"]["message"]
    with acting_as(None):  # a service writing Bob's turn: PostgreSQL refuses her file to him
        with pytest.raises(Forbidden) as taken:
            jarvis.append_message(user_id=bob, **{**message, "audio_file_path": path})
    assert taken.value.field == "audio_file_path"
    assert api.get(f"/api/v1/conversations/{bob}-v", headers=bob_key).json() == []  # nothing written

    voice(api, bob_key, f"{bob}-v", f"{bob}/own.wav")  # his own name is fine
    assert api.delete(f"/api/v1/conversations/{bob}-v", headers=bob_key).status_code == 200
    assert api.delete(f"/api/v1/users/{bob}", headers=bob_key).status_code == 200
    assert recording.read_bytes() == b"RIFF Ada's voice"

    erased = api.delete(f"/api/v1/conversations/{ada}-v", headers=ada_key)  # hers: the file goes
    assert erased.status_code == 200, erased.text
    assert not recording.exists()


def test_a_turn_from_before_026_naming_adas_recording_cannot_delete_it(api, jarvis, ada_and_bob, ada_recording) -> None:
    path, recording = ada_recording
    ada, bob, ada_key, bob_key = ada_and_bob
    voice(api, ada_key, f"{ada}-v", path)
    voice(api, bob_key, f"{bob}-v", f"{bob}/placeholder.wav")
    name_as_before_026(jarvis, bob, f"{bob}-v", path)

    erased = api.delete(f"/api/v1/conversations/{bob}-v", headers=bob_key)
    assert erased.status_code == 200, erased.text
    assert recording.read_bytes() == b"RIFF Ada's voice"  # Ada's message still names it

    erased = api.delete(f"/api/v1/conversations/{ada}-v", headers=ada_key)  # the last row naming it
    assert erased.status_code == 200, erased.text
    assert not recording.exists()


def test_a_recording_two_of_adas_own_messages_name_goes_with_the_second(api, make_key, name, ada_recording) -> None:
    path, recording = ada_recording
    ada = f"{name}-ada"
    ada_key, admin = make_key("read", "write", user=ada), make_key("admin")
    try:
        voice(api, ada_key, f"{ada}-a", path)
        voice(api, ada_key, f"{ada}-b", path)
        assert api.delete(f"/api/v1/conversations/{ada}-a", headers=ada_key).status_code == 200
        assert recording.exists()
        assert api.delete(f"/api/v1/conversations/{ada}-b", headers=ada_key).status_code == 200
        assert not recording.exists()
    finally:
        api.delete(f"/api/v1/users/{ada}", headers=admin)


def test_if_postgres_cannot_say_which_are_still_named_every_file_is_kept(tmp_path) -> None:
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    (tmp_path / "b.wav").write_bytes(b"RIFF")

    def unreachable(names: list[str]) -> list[str]:
        raise ConnectionError("PostgreSQL is down")

    assert remove_recordings(tmp_path, ["a.wav", "/etc/passwd"], unreachable) == ["/etc/passwd"]
    assert (tmp_path / "a.wav").exists()
    assert remove_recordings(tmp_path, ["a.wav", "b.wav", "a.wav"], lambda names: {"b.wav"}) == []
    assert not (tmp_path / "a.wav").exists() and (tmp_path / "b.wav").exists()


def test_the_check_sees_every_users_rows_and_answers_only_the_names_asked(api_jarvis, jarvis, name) -> None:
    """As Bob's role (row-level security hides Ada's rows from him) the function still finds the
    name Ada's row holds; it answers no more than which of the names given are named."""
    from jarvis.audio_files import still_named
    from jarvis.principal import acting_as

    ada, bob = f"{name}-ada", f"{name}-bob"
    path = f"{ada}/only-named.wav"
    with acting_as(ada):
        api_jarvis.append_message(
            session_id=f"{ada}-s", role="user", content="x", message_type="voice", audio_file_path=path
        )
    try:
        with acting_as(bob):
            assert api_jarvis.conversation_history(f"{ada}-s") == []  # hidden from Bob
            assert still_named(api_jarvis._postgres, [path, f"{bob}/nothing.wav"]) == {path}
            assert still_named(api_jarvis._postgres, []) == set()
    finally:
        jarvis.forget_user(ada)


def test_two_users_naming_one_file_at_once_are_served_one_after_the_other(jarvis, settings, name) -> None:
    """Migration 029: the second transaction waits for the first (a lock on the name) and then
    sees its turn, so a file is never named by two users' turns — even by a service's writes."""
    import threading

    import psycopg

    path, ada, bob = f"{name}-shared/rec.wav", f"{name}-ada", f"{name}-bob"
    insert = (
        "INSERT INTO conversations (session_id, user_id, role, content, message_type, audio_file_path) "
        "VALUES (%s, %s, 'user', 'x', 'voice', %s)"
    )
    outcome: dict[str, object] = {}
    with psycopg.connect(settings.postgres_conninfo) as first:
        first.execute(insert, (f"{ada}-s", ada, path))  # not committed yet
        started = threading.Event()

        def second() -> None:
            with psycopg.connect(settings.postgres_conninfo) as conn:
                started.set()
                try:
                    conn.execute(insert, (f"{bob}-s", bob, path))
                    outcome["second"] = "inserted"
                except psycopg.errors.InsufficientPrivilege as exc:
                    outcome["second"] = exc.diag.column_name

        thread = threading.Thread(target=second)
        thread.start()
        started.wait(10)
        thread.join(0.5)
        assert thread.is_alive(), "the second writer waits for the first"
        first.commit()
        thread.join(10)
    try:
        assert outcome == {"second": "audio_file_path"}
    finally:
        with jarvis.stores.postgres.pool.connection() as conn:
            conn.execute("DELETE FROM conversations WHERE audio_file_path = %s", (path,))


def test_a_user_folder_is_its_id_or_a_digest_of_it() -> None:
    assert user_folder("ada") == "ada"
    odd = user_folder("ada@example.com/../x")
    assert odd.startswith("user-") and len(odd) == 45 and "/" not in odd
    assert user_folder("ada@example.com/../x") == odd and user_folder("bob@example.com") != odd
