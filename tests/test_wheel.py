"""The wheel is a whole product: built from this checkout, installed into a fresh virtualenv outside
it, its `jarvis` command migrates, starts a store and searches from a directory of its own.

Nothing downloads: the wheel is built without build isolation by the setuptools already installed,
and the new virtualenv borrows the big dependencies (torch, the drivers) from the one running these
tests through a ``.pth`` file, as a user's virtualenv would hold them. ``PYTHONPATH`` is dropped, so
only the installed copy of ``jarvis`` can be imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
import redis

from jarvis.paths import PROJECT_ROOT

#: What a source distribution holds: the package, its data folders, the build files.
SOURCES = ("jarvis", "migrations", "cypher", "stores", "setup.py", "pyproject.toml", "README.md")

SEARCH = """
import json, sys
import jarvis
from jarvis import paths
from jarvis.facade import Jarvis

topic = sys.argv[1]
facade = Jarvis.from_settings()
try:
    item = facade.add_knowledge(topic=topic, content="Bees tell each other where flowers are by dancing.")
    found = facade.search(query="how do honey insects share where food is", scopes=["knowledge"], limit=3)
    facade.delete_knowledge(item["id"])
finally:
    facade.close()
print(json.dumps({"package": jarvis.__file__, "installed": paths.INSTALLED,
                  "data": [str(paths.MIGRATIONS_DIR), str(paths.CYPHER_DIR), str(paths.STORE_CONFIG_DIR)],
                  "topics": [hit["item"].get("topic") for hit in found["results"]]}))
"""


@pytest.fixture(scope="module")
def installed(stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv (outside the checkout) with the wheel installed; yields its bin directory."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"  # a clean copy: no stale build/ or .jarvis-test/ can reach the wheel
    for name in SOURCES:
        origin = PROJECT_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "target"))
        else:
            shutil.copy2(origin, source / name)
    offline = {**_clean_env(), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(root / "dist"),
            str(source),
        ],
        env=offline,
        cwd=root,
    )
    wheel = next((root / "dist").glob("jarvis_memory-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "jarvis/_data/migrations/001_initial_schema.sql",
        "jarvis/_data/cypher/schema.cypher",
        "jarvis/_data/stores/redis/redis.conf",
        "jarvis/_data/stores/postgres/postgresql.conf",
        "jarvis/_data/stores/neo4j/pom.xml",
        "jarvis/_data/stores/neo4j/src/main/java/dev/jarvis/neo4j/Launcher.java",
    ):
        assert expected in names, f"the wheel lacks {expected}"
    migrations = sorted(path.name for path in (PROJECT_ROOT / "migrations").glob("*.sql"))
    assert sorted(Path(n).name for n in names if n.startswith("jarvis/_data/migrations/")) == migrations

    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=_clean_env(), cwd=root
        ).stdout.strip()
    )
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        env=offline,
        cwd=root,
    )
    return env_dir / "bin"


def test_the_installed_command_migrates_and_searches_from_another_directory(
    installed, tmp_path, name, jarvis, api_jarvis
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for facade in (jarvis, api_jarvis):  # Qdrant Edge is single-process: the installed command opens its shards
        facade.stores.forget("qdrant")
    migrated = _run([str(installed / "jarvis"), "migrate"], env=_clean_env(), cwd=work)
    assert "postgres" in migrated.stdout  # every applied file still matches its recorded checksum
    found = json.loads(
        _run([str(installed / "python"), "-c", SEARCH, f"{name}-bees"], env=_clean_env(), cwd=work)
        .stdout.strip()
        .splitlines()[-1]
    )
    assert found["installed"] is True
    assert Path(found["package"]).is_relative_to(installed.parent), found["package"]
    assert all(Path(folder).is_relative_to(installed.parent) for folder in found["data"]), found["data"]
    assert found["topics"][0] == f"{name}-bees"


def test_the_installed_command_starts_a_store_with_its_packaged_configuration(installed, tmp_path) -> None:
    """`jarvis up` from an empty directory: the data directory defaults to ./.jarvis there."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    port = int(os.environ.get("JARVIS_TEST_PORT_BASE", "11000")) + 51
    env = {**_clean_env(), "JARVIS_REDIS_PORT": str(port)}
    env.pop("JARVIS_DATA_DIR")
    try:
        started = _run([str(installed / "jarvis"), "up", "--store", "redis", "--no-migrate"], env=env, cwd=work)
        assert "redis" in started.stdout and "started" in started.stdout
        secrets = json.loads((work / ".jarvis" / "secrets.json").read_text())  # generated there, not in the checkout
        with redis.Redis(port=port, password=secrets["redis_password"], socket_timeout=5) as conn:
            assert (
                conn.ping() and conn.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-lru"
            )  # redis.conf
    finally:
        _run([str(installed / "jarvis"), "down", "--store", "redis"], env=env, cwd=work, check=False)


def _clean_env() -> dict[str, str]:
    """The test session's environment (it points at the test stack), without this checkout on the path."""
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _run(argv: list[str], *, env: dict[str, str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done
