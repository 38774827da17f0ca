"""No path from input to the file system: `audio_file_path` is a name inside JARVIS_AUDIO_DIR,
refused on input when it is anything else, and retention never unlinks outside that directory."""

from __future__ import annotations

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
