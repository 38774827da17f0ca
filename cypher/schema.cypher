// The graph schema, applied idempotently by `jarvis migrate`.
// Uniqueness constraints also create the index on their property, so the seed's
// `agent_id_index` and `task_id_index` are covered by the constraints below
// (Neo4j refuses a plain index on a property that a uniqueness constraint already indexes).

CREATE CONSTRAINT agent_id_unique IF NOT EXISTS FOR (a:Agent) REQUIRE a.id IS UNIQUE;
CREATE CONSTRAINT task_id_unique IF NOT EXISTS FOR (t:Task) REQUIRE t.id IS UNIQUE;
CREATE CONSTRAINT user_id_unique IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE;
CREATE CONSTRAINT model_id_unique IF NOT EXISTS FOR (m:Model) REQUIRE m.id IS UNIQUE;
CREATE CONSTRAINT knowledge_id_unique IF NOT EXISTS FOR (k:Knowledge) REQUIRE k.id IS UNIQUE;
CREATE CONSTRAINT capability_name_unique IF NOT EXISTS FOR (c:Capability) REQUIRE c.name IS UNIQUE;

// The seed's remaining index, and the properties the example queries filter on.
CREATE INDEX knowledge_topic_index IF NOT EXISTS FOR (k:Knowledge) ON (k.topic);
CREATE INDEX agent_status_index IF NOT EXISTS FOR (a:Agent) ON (a.status);
CREATE INDEX task_status_index IF NOT EXISTS FOR (t:Task) ON (t.status);
