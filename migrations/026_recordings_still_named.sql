-- 026_recordings_still_named.sql — a recording is one user's, and is unlinked only when no conversation names it any more.
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

-- Keeping a file some row still names would also let Bob keep Ada's recording alive after she
-- erased her data (his message naming it would outlive hers). So a recording belongs to the
-- user whose turn named it first: a turn naming a file that another user's turn names is
-- refused (42501, column audio_file_path: a 403 naming the field), whoever writes — the API's
-- user role, a service, or SQL. Then only one user's rows ever name a file, and erasing that
-- user's turns removes it. The check runs as the owner (row-level security would hide the other
-- user's turn from jarvis_api) and uses the index above; text turns skip it.
CREATE FUNCTION jarvis_recording_of_one_user() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp SET app.all_users = 'on' AS $$
BEGIN
    IF NEW.audio_file_path IS NOT NULL AND EXISTS (
        SELECT 1 FROM conversations c
        WHERE c.audio_file_path = NEW.audio_file_path AND c.user_id IS DISTINCT FROM NEW.user_id
    ) THEN
        RAISE EXCEPTION 'the recording % is named by another user''s turn', NEW.audio_file_path
            USING ERRCODE = 'insufficient_privilege', COLUMN = 'audio_file_path';
    END IF;
    RETURN NEW;
END;
$$;
REVOKE EXECUTE ON FUNCTION jarvis_recording_of_one_user() FROM PUBLIC;
CREATE TRIGGER conversations_recording_of_one_user BEFORE INSERT OR UPDATE OF audio_file_path, user_id
    ON conversations FOR EACH ROW EXECUTE FUNCTION jarvis_recording_of_one_user();
