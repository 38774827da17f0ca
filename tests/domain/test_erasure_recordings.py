"""A name is not an owner: Bob's message may name Ada's recording, and erasing it (his session,
his user) must not delete her file while her own message still names it (migration 026). The
file goes with the last row, of any user, that names it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvis.audio_files import remove_recordings


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


def test_bob_naming_adas_recording_cannot_delete_it_by_erasing_his_session_or_himself(
    api, jarvis, make_key, name, ada_recording
) -> None:
    path, recording = ada_recording
    ada, bob = f"{name}-ada", f"{name}-bob"
    ada_key, bob_key, admin = (
        make_key("read", "write", user=ada),
        make_key("read", "write", user=bob),
        make_key("admin"),
    )
    try:
        voice(api, ada_key, f"{ada}-v", path)
        voice(api, bob_key, f"{bob}-v", path)  # any name inside the directory is accepted on input

        erased = api.delete(f"/api/v1/conversations/{bob}-v", headers=bob_key)
        assert erased.status_code == 200, erased.text
        assert recording.read_bytes() == b"RIFF Ada's voice"  # Ada's message still names it

        voice(api, bob_key, f"{bob}-w", path)
        forgotten = api.delete(f"/api/v1/users/{bob}", headers=bob_key)
        assert forgotten.status_code == 200, forgotten.text
        assert recording.exists()
        assert [m["audio_file_path"] for m in api.get(f"/api/v1/conversations/{ada}-v", headers=ada_key).json()] == [
            path
        ]

        erased = api.delete(f"/api/v1/conversations/{ada}-v", headers=ada_key)  # the last row naming it
        assert erased.status_code == 200, erased.text
        assert not recording.exists()
    finally:
        for user in (ada, bob):
            api.delete(f"/api/v1/users/{user}", headers=admin)


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
