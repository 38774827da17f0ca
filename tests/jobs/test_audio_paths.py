"""No path from input to the file system: `audio_file_path` is a name inside JARVIS_AUDIO_DIR,
refused on input when it is anything else, and retention never unlinks outside that directory."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest

from jarvis.errors import InvalidInput
from jarvis.jobs.retention import apply_retention

NOW = datetime.now(timezone.utc).replace(microsecond=0)
HOSTILE = [
    "/etc/passwd",
    "../../x",
    "a/../../b",
    "/tmp/x.wav",
    "..",
    ".",
    "a//b",
    "a/./b",
    ".hidden",
    "a\\..\\b",
    "C:\\Windows\\win.ini",
    "c:/x",
    "x/",
    "~/x",
    "a/\nb",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_the_api_refuses_a_path_that_is_not_a_name_inside_the_audio_directory(api, make_key, name, path) -> None:
    writer = make_key("read", "write")
    response = api.post(
        "/api/v1/conversations/messages",
        headers=writer,
        json={
            "session_id": f"{name}-s",
            "role": "user",
            "content": "listen",
            "message_type": "voice",
            "audio_file_path": path,
        },
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "audio_file_path"
    assert api.get(f"/api/v1/conversations/{name}-s", headers=writer).json() == []  # nothing written


def test_the_facade_refuses_them_too(jarvis, name) -> None:
    for path in ("/etc/passwd", "../../x", "a/../../b"):
        with pytest.raises(InvalidInput) as refused:
            jarvis.append_message(
                session_id=f"{name}-s", role="user", content="x", message_type="voice", audio_file_path=path
            )
        assert refused.value.field == "audio_file_path"


def test_a_name_inside_the_directory_is_accepted(api, make_key, name) -> None:
    writer = make_key("read", "write")
    response = api.post(
        "/api/v1/conversations/messages",
        headers=writer,
        json={
            "session_id": f"{name}-s",
            "role": "user",
            "content": "listen",
            "message_type": "voice",
            "audio_file_path": f"2026/11/{name}.wav",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["audio_file_path"] == f"2026/11/{name}.wav"


def _old_voice_row(jarvis, name: str, path: str) -> str:
    """A 31-day-old voice message whose path was written straight into PostgreSQL (as a row from
    before the rule, or an attacker with SQL access, could): retention must still refuse it."""
    row = jarvis.append_message(session_id=f"{name}-s", role="user", content="old voice", message_type="voice")
    with jarvis.stores.postgres.pool.connection() as conn:
        conn.execute(
            "UPDATE conversations SET audio_file_path = %s, created_at = %s WHERE id = %s",
            (path, NOW - timedelta(days=31), row["id"]),
        )
    return row["id"]


def test_retention_never_unlinks_outside_the_audio_directory(jarvis, name, tmp_path) -> None:
    audio_dir = jarvis.settings.audio_dir
    canary = tmp_path / "canary.txt"
    canary.write_text("still here")
    (audio_dir / name).mkdir(parents=True, exist_ok=True)
    escape = audio_dir / name / "escape"
    escape.symlink_to(tmp_path, target_is_directory=True)  # a link inside the directory pointing out of it
    inside = audio_dir / name / "kept-until-expiry.wav"
    inside.write_bytes(b"RIFF")
    relative = "../" * len(audio_dir.parts) + str(canary).lstrip("/")
    hostile = [str(canary), relative, f"{name}/../../{canary.name}", f"{name}/escape/canary.txt"]
    for path in hostile:
        _old_voice_row(jarvis, name, path)
    _old_voice_row(jarvis, name, f"{name}/kept-until-expiry.wav")

    report = apply_retention(jarvis.stores, now=NOW)

    assert canary.read_text() == "still here"
    assert not inside.exists()  # the recording inside the directory did go
    assert set(hostile) <= set(report.refused_audio)


def test_retention_keeps_a_recording_another_users_row_still_names(api, jarvis, make_key, name) -> None:
    """Bob back-dates voice messages so retention expires them — one past the recordings' 30
    days (its name is cleared), one past the conversations' 90 (the row goes) — and, as rows
    written before migration 026 could, they name Ada's recordings (026 refuses that now): Ada's
    messages still name both files, so both stay. A file only Bob's expired row named goes in the
    same run, so the unlinking did run."""
    from tests.domain.test_erasure_recordings import name_as_before_026

    ada, bob = f"{name}-ada", f"{name}-bob"
    ada_key, bob_key, admin = (
        make_key("read", "write", user=ada),
        make_key("read", "write", user=bob),
        make_key("admin"),
    )
    audio_dir = jarvis.settings.audio_dir
    for folder in (ada, bob):
        (audio_dir / folder).mkdir(parents=True, exist_ok=True)
    cleared, deleted, bobs = audio_dir / ada / "rec1.wav", audio_dir / ada / "rec2.wav", audio_dir / bob / "own.wav"
    for recording in (cleared, deleted, bobs):
        recording.write_bytes(b"RIFF")

    def voice(key: dict[str, str], session: str, path: str, days_old: int = 0) -> None:
        message = {"session_id": session, "role": "user", "content": "x", "message_type": "voice"}
        created = (NOW - timedelta(days=days_old)).isoformat()
        response = api.post(
            "/api/v1/conversations/messages",
            headers=key,
            json={**message, "audio_file_path": path, "created_at": created},
        )
        assert response.status_code == 201, response.text

    try:
        voice(ada_key, f"{ada}-v", f"{ada}/rec1.wav")
        voice(ada_key, f"{ada}-v", f"{ada}/rec2.wav")
        voice(bob_key, f"{bob}-old", f"{bob}/placeholder1.wav", days_old=31)
        voice(bob_key, f"{bob}-older", f"{bob}/placeholder2.wav", days_old=91)
        name_as_before_026(jarvis, bob, f"{bob}-old", f"{ada}/rec1.wav")
        name_as_before_026(jarvis, bob, f"{bob}-older", f"{ada}/rec2.wav")
        voice(bob_key, f"{bob}-v", f"{bob}/own.wav", days_old=31)

        report = apply_retention(jarvis.stores, now=NOW)

        assert cleared.exists() and deleted.exists()
        assert not bobs.exists()
        assert not {f"{ada}/rec1.wav", f"{ada}/rec2.wav"} & set(report.refused_audio)  # kept, not refused
        with jarvis.stores.postgres.pool.connection() as conn:
            bobs_rows = conn.execute(
                "SELECT audio_file_path FROM conversations WHERE user_id = %s ORDER BY audio_file_path", (bob,)
            ).fetchall()
        assert bobs_rows == [(None,), (None,)]  # retention did expire Bob's rows (the 91-day one is gone)
    finally:
        for user in (ada, bob):
            api.delete(f"/api/v1/users/{user}", headers=admin)
            shutil.rmtree(audio_dir / user, ignore_errors=True)
