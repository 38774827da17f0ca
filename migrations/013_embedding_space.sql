-- 013_embedding_space.sql — which kind of vectors the stored embeddings are, so that two kinds
-- are never mixed. torch and the ONNX export give the same vectors ('fp32'); int8 quantised
-- ONNX gives others ('int8', cosine ~0.99 to fp32), which must not be compared with fp32 ones.
-- One row. A process checks its embedder against it before it embeds anything; switching is
-- `jarvis reembed`, which sets reembed_to, records per-table progress (resumable) and, once
-- every embedding is redone, sets family and clears reembed_to in one transaction.

CREATE TABLE embedding_space (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CONSTRAINT embedding_space_one_row CHECK (singleton),
    family TEXT NOT NULL CONSTRAINT embedding_space_family_check CHECK (family IN ('fp32', 'int8')),
    reembed_to TEXT CONSTRAINT embedding_space_reembed_to_check CHECK (reembed_to IN ('fp32', 'int8')),
    progress JSONB NOT NULL DEFAULT '{}',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
-- Every embedding stored before this migration came from torch.
INSERT INTO embedding_space (family) VALUES ('fp32');
GRANT SELECT ON embedding_space TO jarvis_api;
