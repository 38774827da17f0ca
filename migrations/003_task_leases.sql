-- 003_task_leases.sql — the token of the worker currently holding a task.
-- Redis delivers a task with a lease; PostgreSQL decides who may finish it: completing or
-- failing a task requires the token it was last delivered with, so a worker whose lease
-- expired (and whose task went to another worker) can no longer change it.

ALTER TABLE tasks ADD COLUMN lease_token TEXT;
ALTER TABLE tasks ADD COLUMN lease_owner VARCHAR(255);
