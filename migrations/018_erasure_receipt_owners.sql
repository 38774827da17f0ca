-- 018_erasure_receipt_owners.sql — an erasure receipt belongs to a user, and PostgreSQL says so.
--
-- A receipt names the erased subject and, per store, the ids it removed: it is as private as
-- what it erased. Until now any key with the read scope that knew a receipt's id could fetch it.
-- From here it is owned like the tables of 008_ownership.sql:
--   erasure_receipts   owner_user_id: the user whose data was erased — the subject itself for a
--                      user, the owner of the agent, the user of the session's messages (when
--                      they are all one user's), the user of the preference. A receipt without
--                      an owner (a shared agent, a session of several users, or of none) is for
--                      service keys only.
-- jarvis_api sees and writes only its user's receipts (a user-bound key that forgets its own
-- user records a receipt it owns); jarvis_service and the migrating role see every receipt when
-- the transaction says app.all_users = 'on', as everywhere else. Receipts are written once:
-- jarvis_api may no longer update or delete them.

ALTER TABLE erasure_receipts ADD COLUMN owner_user_id VARCHAR(255);

-- Existing receipts: a user's erasure is that user's. The rows that named the owner of an agent,
-- a session or a preference are gone with the erasure, so those receipts stay service-only
-- (failing closed rather than guessing).
UPDATE erasure_receipts SET owner_user_id = subject_id WHERE subject_type = 'user';

ALTER TABLE erasure_receipts ENABLE ROW LEVEL SECURITY;
ALTER TABLE erasure_receipts FORCE ROW LEVEL SECURITY;

CREATE POLICY own_rows ON erasure_receipts FOR ALL TO jarvis_api
    USING (owner_user_id = jarvis_principal()) WITH CHECK (owner_user_id = jarvis_principal());
CREATE POLICY every_user ON erasure_receipts FOR ALL TO jarvis_service, CURRENT_USER
    USING (jarvis_every_user()) WITH CHECK (jarvis_every_user());

REVOKE UPDATE, DELETE ON erasure_receipts FROM jarvis_api;
