"""The projections: how each PostgreSQL entity appears in Neo4j, Chroma, Qdrant and Redis' cache
(:mod:`.entities`), the writers that make a store match its rows (:mod:`.writers`), the projector
and its background applier (:mod:`.projector`, :mod:`.applier`), and maintenance: rebuild,
verify, reconcile (:mod:`.maintenance`) and orphan edges (:mod:`.orphans`).
"""
