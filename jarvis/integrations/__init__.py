"""Adapters for agent frameworks (``pip install jarvis-memory[langchain]``).

- :mod:`~jarvis.integrations.langchain`: ``JarvisRetriever`` (a LangChain ``BaseRetriever``
  over ``search``) and ``JarvisChatMessageHistory`` (a ``BaseChatMessageHistory`` over
  conversations), over the facade or the HTTP client;
- :mod:`~jarvis.integrations.langgraph_store`: ``JarvisStore``, a LangGraph ``BaseStore``
  (namespaces, put/get/search/delete, list_namespaces, batch/abatch) in PostgreSQL.
"""
