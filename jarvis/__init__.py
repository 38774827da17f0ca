"""JARVIS Memory: a polyglot memory and knowledge platform for AI agents.

PostgreSQL (+pgvector) is the system of record; Redis, Neo4j, Chroma and Qdrant are
projections and caches fed from it. See ``DESIGN.md`` in the shared folder.
"""

__version__ = "0.1.0"
