-- 027_sessions_keep_their_user.sql — a session's turns belong to one user, and PostgreSQL says so.
--
-- The facade used to decide whose a session was from Redis (`session:{id}`: whoever wrote to it
-- last, gone after an hour idle or a Redis restart). So once Ada's entry had expired, a key bound
-- to Bob could write into her session, and from then on every message Bob wrote renewed an entry
-- that refused Ada her own session (403); Bob could also claim an id before Ada used it.
--
-- Now PostgreSQL decides, from the turns themselves: a transaction acting for one user
-- (app.current_user, migration 008's jarvis_principal()) may not add a turn to — nor move a turn
-- into — a session holding a turn of another user. It is refused with SQLSTATE 42501 naming the
-- column session_id (jarvis/stores/postgres.py `translate`: 403 naming `session_id`), and nothing
-- of the transaction is written. Transactions acting for every user (service keys, jobs,
-- imports) are not checked: they may write several users' turns into one session. A turn
-- without a user (user_id NULL, written by a service) is nobody's and refuses no one.
--
-- A session id never used before goes to its first writer; ids should be unguessable (UUIDs,
-- README). Two users' first turns into the same new session are serialized by an advisory lock
-- on the session id (namespace 19027 = 0x4A53, "JS"; the outbox's is 0x4A4D), taken only while the
-- session has no turn, and the turns are checked again once it is held: the later one sees the
-- earlier committed turn and is refused. The check reads every user's rows (the trigger runs as
-- the owner, acting for every user for its own statements only): row-level security would hide
-- them from jarvis_api. It runs under READ COMMITTED (each statement its own snapshot), which
-- is what the API's transactions use.
--
-- The check is two index range scans on (session_id, user_id): turns of users sorting before
-- the caller's, and after it — neither reads the caller's own turns, however long the session.
-- idx_conv_session (session_id) becomes that index (same name, one more column), so no extra
-- index is written per turn. Cost per appended turn, measured on the test stack (a loaded
-- 2-core machine) with the trigger disabled and enabled in alternated rounds: one user-bound
-- INSERT + COMMIT as jarvis_api p50 0.95 -> 1.18 ms and 1.03 -> 1.14 ms (950 each, two runs);
-- append_message p50 to commit 29.4 -> 32.0 ms and 19.2 -> 20.9 ms (275 each, embedding
-- included; within that run's noise), less the Redis read the facade no longer makes first.

DROP INDEX idx_conv_session;
CREATE INDEX idx_conv_session ON conversations (session_id, user_id);

CREATE FUNCTION jarvis_session_keeps_its_user() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp SET app.all_users = 'on' AS $$
DECLARE
    me text := jarvis_principal();
BEGIN
    IF me IS NULL THEN  -- acting for every user (or for nobody, whom row-level security refuses)
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM conversations WHERE session_id = NEW.session_id) THEN
        -- a new session: one first writer at a time, then look again
        PERFORM pg_advisory_xact_lock(19027, hashtext(NEW.session_id));
    END IF;
    IF EXISTS (SELECT 1 FROM conversations WHERE session_id = NEW.session_id AND user_id < me)
       OR EXISTS (SELECT 1 FROM conversations WHERE session_id = NEW.session_id AND user_id > me) THEN
        RAISE EXCEPTION 'is a session of another user'
            USING ERRCODE = 'insufficient_privilege', COLUMN = 'session_id', TABLE = 'conversations';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER sessions_keep_their_user BEFORE INSERT ON conversations
    FOR EACH ROW EXECUTE FUNCTION jarvis_session_keeps_its_user();
CREATE TRIGGER sessions_keep_their_user_on_update BEFORE UPDATE OF session_id, user_id ON conversations
    FOR EACH ROW WHEN (OLD.session_id IS DISTINCT FROM NEW.session_id OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION jarvis_session_keeps_its_user();

-- The sessions among p_sessions the current user may not write into (holding another user's
-- turn), for the batch path to name the message before it embeds anything
-- (jarvis/domain/messages_batch.py). New sessions' locks are taken here in one order, so two
-- batches starting the same sessions in different orders queue instead of deadlocking. Nothing
-- for a transaction acting for every user. It says only what a refused write would say.
CREATE FUNCTION jarvis_foreign_sessions(p_sessions text[]) RETURNS SETOF text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp SET app.all_users = 'on' AS $$
DECLARE
    me text := jarvis_principal();
    s text;
BEGIN
    IF me IS NULL THEN
        RETURN;
    END IF;
    FOR s IN SELECT DISTINCT u FROM unnest(p_sessions) AS u WHERE u IS NOT NULL ORDER BY 1 LOOP
        IF NOT EXISTS (SELECT 1 FROM conversations WHERE session_id = s) THEN
            PERFORM pg_advisory_xact_lock(19027, hashtext(s));
        END IF;
        IF EXISTS (SELECT 1 FROM conversations WHERE session_id = s AND user_id < me)
           OR EXISTS (SELECT 1 FROM conversations WHERE session_id = s AND user_id > me) THEN
            RETURN NEXT s;
        END IF;
    END LOOP;
END
$$;
REVOKE EXECUTE ON FUNCTION jarvis_foreign_sessions(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jarvis_foreign_sessions(text[]) TO jarvis_api, jarvis_service;
