-- 029_recordings_in_turn_and_forgotten_requesters.sql — two holes a second review found in today's rules.
--
-- 1. 026's trigger gives a recording to the first turn naming it, but checked with a plain
--    EXISTS: under READ COMMITTED a turn not yet committed is invisible, so two users' turns
--    naming one file in concurrent transactions both went in (reproduced: Ada's uncommitted
--    insert, Bob's accepted beside it), and Ada's erasure then kept her file for Bob's row. The
--    check now first takes an advisory lock on the name (namespace 19026, "JR"; 027's sessions
--    use 19027): the second writer waits for the first to end and then sees its committed turn.
--    (The facade also keeps a user-bound key to its own folder of the audio directory:
--    jarvis/audio_files.py user_folder, so a key cannot claim another user's file first.)
--
-- 2. Forgetting a user detaches the tasks they requested (requested_by = NULL) before their row
--    goes. Done by a key bound to that user, as the API lets one forget its own user, the
--    UPDATE ran as jarvis_api, whose policy on tasks requires requested_by = the user also of the
--    new row: the erasure answered 403 once the user had ever requested a task. A definer
--    function now does it for the user the transaction acts for — or, for a transaction acting
--    for every user, for the user it names — and for no one else.

CREATE OR REPLACE FUNCTION jarvis_recording_of_one_user() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp SET app.all_users = 'on' AS $$
BEGIN
    IF NEW.audio_file_path IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(19026, hashtext(NEW.audio_file_path));
        IF EXISTS (
            SELECT 1 FROM conversations c
            WHERE c.audio_file_path = NEW.audio_file_path AND c.user_id IS DISTINCT FROM NEW.user_id
        ) THEN
            RAISE EXCEPTION 'the recording % is named by another user''s turn', NEW.audio_file_path
                USING ERRCODE = 'insufficient_privilege', COLUMN = 'audio_file_path';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

CREATE FUNCTION jarvis_forget_task_requester(p_user text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    detached bigint;
BEGIN
    IF NOT (jarvis_every_user() OR p_user = jarvis_principal()) THEN
        RAISE EXCEPTION 'only the user itself, or a service, forgets whose tasks these were'
            USING ERRCODE = 'insufficient_privilege', COLUMN = 'requested_by';
    END IF;
    UPDATE tasks SET requested_by = NULL WHERE requested_by = p_user;
    GET DIAGNOSTICS detached = ROW_COUNT;
    RETURN detached;
END;
$$;
REVOKE EXECUTE ON FUNCTION jarvis_forget_task_requester(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jarvis_forget_task_requester(text) TO jarvis_api, jarvis_service;
