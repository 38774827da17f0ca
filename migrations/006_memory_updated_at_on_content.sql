-- 006_memory_updated_at_on_content.sql — reading a memory counts an access (access_count,
-- last_accessed), which is an UPDATE; it must not look like a change of the memory itself.
-- updated_at now moves only when the memory's content changes, which is also what retention
-- measures working and recall memories by.

DROP TRIGGER update_agent_memory_updated_at ON agent_memory;
CREATE TRIGGER update_agent_memory_updated_at
    BEFORE UPDATE OF agent_id, memory_type, key, value, embedding, importance, expires_at ON agent_memory
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
