-- 028_definer_functions_not_public.sql — no function that runs as the owner is anyone's to call.
--
-- 011's jarvis_node_exists(label, key, lock) answers, as the owner and so past row-level
-- security, whether any user's agent, task, user or knowledge row exists (and can lock it FOR
-- KEY SHARE). Only the edge trigger (itself a definer function, running as the owner) needs it,
-- but PostgreSQL grants EXECUTE to PUBLIC by default, so every role — jarvis_api included — could
-- call it: an oracle for other users' ids to anyone holding SQL access as that role. Only the
-- service role keeps it (below). Every other definer function that can be called directly
-- already had PUBLIC's EXECUTE revoked (017, 022, 023, 026, 027); trigger functions cannot be
-- called directly. tests/api/test_definer_functions.py keeps it that way for functions added later.

REVOKE EXECUTE ON FUNCTION jarvis_node_exists(text, text, boolean) FROM PUBLIC;
-- verify, sync and reconcile find orphan edge rows with it (jarvis/projection/orphans.py), as the
-- service role, which acts for every user anyway; the API's user role is not given it.
GRANT EXECUTE ON FUNCTION jarvis_node_exists(text, text, boolean) TO jarvis_service;
