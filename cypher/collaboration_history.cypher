// The seed's "collaboration history": whom an agent worked with, and how often.
MATCH (a1:Agent {id: $agent_id})-[r:COLLABORATES_WITH]->(a2:Agent)
RETURN a2.id AS id, a2.name AS name, coalesce(r.count, 1) AS collaboration_count
ORDER BY collaboration_count DESC, name
