-- 025_events_name_only_what_the_writer_can_see.sql — a user writes events only about agents and tasks it can see.
--
-- 008's policy let jarvis_api insert an event when the agent was the user's OR the task was one
-- the user could see. So a key bound to Bob could write an event naming Ada's agent and his own
-- task: the same policy's USING clause then showed it to Ada (the agent is hers), in her event
-- list, on the console's agent page, and live on her system_monitoring channel — a "critical:
-- your agent was compromised" she never caused. Reading stays as it was (an event about her
-- agent or about a task she can see); writing now needs every reference to be one the writer
-- can see, as row-level security on agents and tasks decides inside the policy: the agent, when
-- named, the user's own or a shared one; the task, when named, one the user can see; and at
-- least one of the two named (as before). An event about a shared agent is shown to no other
-- user (its agent is nobody's; only a task the reader can see would show it).
-- The facade refuses the same input first, naming the field (Base._require_seen): this policy is
-- what holds when the facade is not the writer.

ALTER POLICY own_agents_or_tasks ON system_events
    WITH CHECK (
        (agent_id IS NOT NULL OR task_id IS NOT NULL)
        AND (agent_id IS NULL
             OR EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_id))
        AND (task_id IS NULL OR EXISTS (SELECT 1 FROM tasks t WHERE t.id = task_id))
    );
