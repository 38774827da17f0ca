// The seed's "find best agent for task", returning every active candidate with the
// capability (the facade ranks them with similarity, performance and load).
MATCH (c:Capability {name: $capability})
MATCH (a:Agent)-[:HAS_CAPABILITY]->(c)
WHERE a.status = 'active'
RETURN a.id AS id, a.name AS name, a.performance_score AS performance_score
ORDER BY a.performance_score DESC
LIMIT $limit
