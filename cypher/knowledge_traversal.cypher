// The seed's "knowledge graph traversal": knowledge reachable from a topic in 1 to 3 hops.
// $max_hops is applied in the WHERE clause because variable-length bounds cannot be parameters.
// Only facts valid at $as_of are reached or passed through (valid_from <= $as_of < valid_to;
// nodes projected before validity existed have no valid_from and always count as valid).
MATCH path = (k1:Knowledge)-[:RELATED_TO*1..3]-(k2:Knowledge)
WHERE k1.topic = $topic AND length(path) <= $max_hops AND k2 <> k1
  AND all(n IN nodes(path) WHERE n.valid_from IS NULL
          OR (n.valid_from <= $as_of AND (n.valid_to IS NULL OR n.valid_to > $as_of)))
WITH k2, min(length(path)) AS hops
RETURN k2.id AS id, k2.topic AS topic, k2.content AS content, hops
ORDER BY hops, topic
LIMIT $limit
