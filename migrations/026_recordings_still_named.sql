-- 026_recordings_still_named.sql — a recording is unlinked only when no conversation names it any more.
--
-- conversations.audio_file_path is a name inside JARVIS_AUDIO_DIR (jarvis/audio_files.py) that the
-- caller writes; nothing records whose file it is, and rows of different users may name the same
-- one. An erasure (of a session, of a user) and retention unlinked every name their deleted rows
-- held, so a key bound to Bob could write a voice message naming Ada's recording, erase it, and
-- delete Ada's file while her own message still named it. Now, after the deleting transaction
-- has committed and before unlinking anything, the caller asks which of the names some
-- conversations row — of any user — still names, and keeps those files.
--
-- Row-level security hides the other users' rows from the erasing key (jarvis_api), so the
-- function runs as the owner and acts for every user for its own statement only (the SET
-- clauses are restored when it returns), as 023's do. It answers which of the names it was given
-- are still named, nothing else: not by whom, not in which rows; the API does not pass the
-- answer on. A partial index finds the rows naming a recording without reading every month of
-- conversations: only voice messages carry a name, so text turns add nothing to it (their
-- insert evaluates the predicate, no index entry), and retention's clearing of expired names
-- shrinks it. The index on the partitioned table is created on every month, present and future.

CREATE INDEX idx_conv_audio_file_path ON conversations (audio_file_path) WHERE audio_file_path IS NOT NULL;

CREATE FUNCTION jarvis_recordings_still_named(p_names text[]) RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp SET app.all_users = 'on' AS $$
    SELECT coalesce(array_agg(DISTINCT n.name ORDER BY n.name), '{}')
    FROM unnest(p_names) AS n(name)
    WHERE EXISTS (SELECT 1 FROM conversations c
                  WHERE c.audio_file_path IS NOT NULL AND c.audio_file_path = n.name)
$$;
REVOKE EXECUTE ON FUNCTION jarvis_recordings_still_named(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jarvis_recordings_still_named(text[]) TO jarvis_api, jarvis_service;
