// Where the console's graph explorer starts: the Knowledge nodes of a topic, or the node with a key
// (an agent's, task's, user's, model's or knowledge item's id, or a capability's name).
// One MATCH per label, so each uses its label's key constraint instead of scanning every node.
CALL () {
  MATCH (n:Knowledge) WHERE $topic IS NOT NULL AND n.topic = $topic RETURN n
  UNION MATCH (n:Agent {id: $key}) RETURN n
  UNION MATCH (n:Task {id: $key}) RETURN n
  UNION MATCH (n:User {id: $key}) RETURN n
  UNION MATCH (n:Model {id: $key}) RETURN n
  UNION MATCH (n:Knowledge {id: $key}) RETURN n
  UNION MATCH (n:Capability {name: $key}) RETURN n
}
WITH n WHERE NOT 'JarvisRestoreStaging' IN labels(n)  // a restore's staged copy is not the graph
RETURN coalesce(n.id, n.name) AS key, labels(n)[0] AS label, coalesce(n.name, n.topic, n.id) AS caption,
       n.type AS kind
LIMIT 5
