-- 007_knowledge_without_ann_index.sql — knowledge is the table agents bulk-load, and Chroma
-- (its projection) answers every knowledge search. The HNSW index PostgreSQL kept on the same
-- vectors served only the fallback used while Chroma is down, yet every insert paid for it:
-- 1.33 ms against 0.47 ms per single-row commit, and about a CPU-second per 2,000 ingested
-- items (scripts/jarvis bench). The embeddings stay (rebuilds never re-embed); the fallback
-- now scans them exactly, which during an outage is slower and never less accurate.
-- agent_memory keeps its HNSW index: recall is answered by PostgreSQL itself.

DROP INDEX IF EXISTS idx_knowledge_embedding;
