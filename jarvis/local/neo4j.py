"""Neo4j Community for the local stack: the embedded launcher in ``stores/neo4j``.

Maven Central serves Neo4j's embedded artifacts (pinned in ``stores/neo4j/pom.xml``) but not
its server tarball, so the launcher runs Neo4j embedded with its Bolt connector, as Neo4j
documents for embedded use. The first ``up`` builds it with Maven into the shared cache
(``<cache dir>/neo4j-launcher/<hash of the sources>``); later runs need no network.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess

from jarvis.config import Settings
from jarvis.errors import StoreStartError
from jarvis.local.process import log_path, start_process, stop_process
from jarvis.paths import STORE_CONFIG_DIR
from jarvis.stores.neo4j import STORE, probe

__all__ = ["start", "stop", "ensure_built"]

LAUNCHER_DIR = STORE_CONFIG_DIR / "neo4j"
MAIN_CLASS = "dev.jarvis.neo4j.Launcher"
JVM_OPTIONS = ["-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Dfile.encoding=UTF-8"]


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([LAUNCHER_DIR / "pom.xml", *LAUNCHER_DIR.glob("src/**/*.java")]):
        digest.update(path.relative_to(LAUNCHER_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_built(settings: Settings) -> str:
    """Build the launcher once per source version; return its Java class path."""
    build_dir = settings.cache_dir / "neo4j-launcher" / _sources_digest()
    classpath = f"{build_dir / 'classes'}:{build_dir / 'lib'}/*"
    if (build_dir / "BUILT").exists():
        return classpath
    mvn = shutil.which("mvn")
    if not mvn:
        raise StoreStartError(STORE, "Maven (`mvn`) is needed once to fetch Neo4j from Maven Central")
    argv = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(LAUNCHER_DIR / "pom.xml"),
        f"-Dmaven.repo.local={settings.cache_dir / 'm2'}",
        f"-Djarvis.build.dir={build_dir}",
        "package",
    ]
    with open(log_path(settings.data_dir, STORE), "ab") as log:
        result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise StoreStartError(STORE, f"building the Neo4j launcher failed; see {log_path(settings.data_dir, STORE)}")
    (build_dir / "BUILT").write_text(_sources_digest() + "\n")
    return classpath


def _java() -> str:
    found = shutil.which("java")
    if not found:
        raise StoreStartError(STORE, "Java 17 or newer is needed to run Neo4j")
    return found


def start(settings: Settings) -> str:
    if not settings.is_local(STORE):
        return "external"
    if probe(settings).up:
        return "already up"
    from urllib.parse import urlparse

    bolt = urlparse(settings.neo4j_uri)
    data = settings.data_dir / "neo4j"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        _java(),
        *JVM_OPTIONS,
        "-cp",
        ensure_built(settings),
        MAIN_CLASS,
        str(data),
        str(bolt.port or 7687),
        bolt.hostname or "127.0.0.1",
    ]
    password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
    return start_process(
        store=STORE,
        data_dir=settings.data_dir,
        argv=argv,
        env={"NEO4J_PASSWORD": password},
        ready=lambda: probe(settings).up,
        timeout=settings.start_timeout,
    )


def stop(settings: Settings) -> str:
    return stop_process(store=STORE, data_dir=settings.data_dir, timeout=90.0)
