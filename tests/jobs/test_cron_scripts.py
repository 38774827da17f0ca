"""The cron scripts: one log line per run, non-zero exit on failure."""

from __future__ import annotations

import os
import subprocess

from jarvis.paths import PROJECT_ROOT


def _run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROJECT_ROOT / "scripts" / script)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
        check=False,
    )


def test_a_backup_script_that_cannot_write_fails_with_one_line() -> None:
    result = _run("backup_databases.sh", BACKUP_DIR="/proc/no-such-place")
    assert result.returncode != 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "jarvis-backup FAILED" in lines[0] and "seconds=" in lines[0]


def test_the_retention_script_logs_one_line_with_counts(stack) -> None:
    result = _run("retention.sh")
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(lines) == 1 and "jarvis-retention ok" in lines[0] and "dropped_partitions=" in lines[0]
