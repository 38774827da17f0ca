"""The backup manifest and the files it names: signed, complete, and confined to one directory.

A restore replaces every store's content, so it must trust only what ``jarvis backup`` wrote.
The manifest therefore carries an HMAC-SHA256 (keyed by ``JARVIS_BACKUP_KEY``) over its
canonical JSON: anyone can recompute a file's sha256, nobody without the key can recompute
the MAC. A manifest must name every store and, per store, exactly the files this version
writes; each name is a plain file name inside the backup directory and is opened without
following symbolic links, so nothing outside the directory is ever read.

Files are created 0600 inside a 0700 directory: a backup holds every conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from jarvis.backup_files import NAME, BackupError, create_private, file_facts, open_inside, plain_name
from jarvis.errors import ConfigurationError
from jarvis.stores.base import ALL_STORES

FORMAT = 2
MAC_ALGORITHM = "hmac-sha256"
#: A manifest is a few kilobytes; a bigger one is not ours (and is not parsed).
MAX_MANIFEST_BYTES = 1 << 20


def expected_files() -> dict[str, tuple[str, ...]]:
    """Per store, the files a backup of this version holds (a manifest must list exactly these)."""
    from jarvis.stores.chroma import COLLECTIONS as CHROMA
    from jarvis.stores.qdrant import COLLECTIONS as QDRANT

    return {
        "postgres": ("postgres.dump",),
        "redis": ("redis.jsonl",),
        "neo4j": ("neo4j.nodes.jsonl", "neo4j.relationships.jsonl"),
        "chroma": tuple(f"chroma.{name}.jsonl" for name in CHROMA),
        "qdrant": tuple(f"qdrant.{spec.name}.jsonl" for spec in QDRANT),
    }


# -- files ----------------------------------------------------------------------------------------
# -- the MAC --------------------------------------------------------------------------------------
def _key(secret: SecretStr | None) -> bytes:
    if secret is None or not secret.get_secret_value():
        raise ConfigurationError("JARVIS_BACKUP_KEY is not set: backups cannot be signed or checked")
    return secret.get_secret_value().encode()


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def mac(body: dict[str, Any], *, key: SecretStr | None) -> str:
    """The HMAC of everything in the manifest but the MAC itself."""
    unsigned = {k: v for k, v in body.items() if k != "mac"}
    return hmac.new(_key(key), _canonical(unsigned), hashlib.sha256).hexdigest()


def write(directory: Path, body: dict[str, Any], *, key: SecretStr | None) -> None:
    """Sign *body* and write it as the backup's manifest (0600)."""
    signed = {**body, "format": FORMAT, "mac_algorithm": MAC_ALGORITHM}
    signed["mac"] = mac(signed, key=key)
    with create_private(directory / NAME) as fh:
        json.dump(signed, fh, indent=2)


def check(directory: Path, *, key: SecretStr | None) -> dict[str, Any]:
    """The manifest, once it is authentic, complete, and every file matches it.

    The order matters: the MAC is checked before anything the manifest says is believed, and
    every name is checked before any file is opened.

    Raises:
        BackupError: a bad manifest (unreadable, not JSON, no valid MAC, a store or file
            missing or extra, a name that is not plain), or a file missing or not matching.
    """
    try:
        with open_inside(directory, NAME, "rb") as fh:
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
    except BackupError as exc:
        raise BackupError(f"bad manifest: {exc}") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BackupError(f"bad manifest: {NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BackupError(f"bad manifest: {NAME} is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("mac"), str):
        raise BackupError(f"bad manifest: {NAME} carries no MAC (refusing an unsigned backup)")
    if not hmac.compare_digest(manifest["mac"], mac(manifest, key=key)):
        raise BackupError(
            f"bad manifest: the MAC of {NAME} does not match (altered, or signed with another JARVIS_BACKUP_KEY)"
        )
    _check_shape(directory, manifest)
    for store, entry in manifest["stores"].items():
        for name, facts in entry["files"].items():
            found = file_facts(directory, name)
            if found != {"bytes": facts.get("bytes"), "sha256": facts.get("sha256")}:
                raise BackupError(f"refusing to restore: {name} ({store}) does not match its checksum in {NAME}")
    return manifest


def _check_shape(directory: Path, manifest: dict[str, Any]) -> None:
    """Every store present with exactly its files, every name plain (nothing opened yet)."""
    if manifest.get("format") != FORMAT:
        raise BackupError(f"bad manifest: format {manifest.get('format')!r} (this version reads {FORMAT})")
    stores = manifest.get("stores")
    if not isinstance(stores, dict):
        raise BackupError("bad manifest: no stores")
    missing, extra = set(ALL_STORES) - set(stores), set(stores) - set(ALL_STORES)
    if missing or extra:
        raise BackupError(
            "bad manifest: "
            + "; ".join(
                part
                for part in (
                    missing and f"store(s) missing: {', '.join(sorted(missing))}",
                    extra and f"unknown store(s): {', '.join(sorted(extra))}",
                )
                if part
            )
        )
    for store, names in expected_files().items():
        entry = stores[store]
        files = entry.get("files") if isinstance(entry, dict) else None
        if not isinstance(files, dict):
            raise BackupError(f"bad manifest: {store} lists no files")
        for name in files:
            plain_name(directory, name)
        if set(files) != set(names):
            raise BackupError(f"bad manifest: {store} must list exactly {', '.join(names)}")
        if not all(isinstance(facts, dict) for facts in files.values()) or not isinstance(entry.get("items"), dict):
            raise BackupError(f"bad manifest: {store}'s files or items are malformed")
