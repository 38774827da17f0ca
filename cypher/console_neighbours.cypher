// One hop around the nodes with the given keys, every relationship type, either direction:
// each relationship with its direction (src -> dst) and the node at its far end.
UNWIND $keys AS key
CALL (key) {
  MATCH (a:Agent {id: key}) RETURN a
  UNION MATCH (a:Task {id: key}) RETURN a
  UNION MATCH (a:User {id: key}) RETURN a
  UNION MATCH (a:Model {id: key}) RETURN a
  UNION MATCH (a:Knowledge {id: key}) RETURN a
  UNION MATCH (a:Capability {name: key}) RETURN a
}
MATCH (a)-[r]-(b)
WHERE NOT 'JarvisRestoreStaging' IN labels(b)
RETURN type(r) AS rel, coalesce(startNode(r).id, startNode(r).name) AS src,
       coalesce(endNode(r).id, endNode(r).name) AS dst, coalesce(b.id, b.name) AS other,
       labels(b)[0] AS other_label, coalesce(b.name, b.topic, b.id) AS other_caption, b.type AS other_kind
LIMIT $limit
