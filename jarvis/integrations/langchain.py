"""LangChain adapters: a retriever over ``search`` and a chat history over conversations.

Both take a *source*: the facade (:class:`jarvis.facade.Jarvis`, in-process) or the HTTP
client (:class:`jarvis.client.JarvisClient` / :class:`~jarvis.client.AsyncJarvisClient`), so an
agent can use them next to the stores or across the network with a (user-bound) API key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from jarvis.client import AsyncJarvisClient

#: Where each scope's hit keeps the text a Document carries.
TEXT_FIELDS = ("content", "value", "description", "capability", "topic")
#: LangChain message types and conversation roles, both ways.
ROLES = {"human": "user", "ai": "assistant", "system": "system"}
MESSAGES = {"user": HumanMessage, "assistant": AIMessage, "system": SystemMessage}
PAGE = 1000
DELETE_SESSION = """
DELETE FROM conversations WHERE session_id = %(session_id)s AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
RETURNING id::text
"""


def _is_facade(source: Any) -> bool:
    from jarvis.facade import Jarvis

    return isinstance(source, Jarvis)


class JarvisRetriever(BaseRetriever):
    """Documents closest in meaning to a query, from JARVIS Memory's semantic search.

    Each :class:`~langchain_core.documents.Document` carries the hit's text, and in its
    metadata the ``score`` (cosine similarity, higher is closer), the ``scope`` it came from,
    its ``id`` and the rest of its row (topic, source, session, ...).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    source: Any = Field(description="a Jarvis facade, JarvisClient or AsyncJarvisClient")
    scopes: list[str] = Field(default_factory=lambda: ["knowledge", "conversations", "code"])
    k: int = 4
    agent_id: str | None = None  # needed for the memory scope
    user_id: str | None = None  # only this user's conversations and preferences

    def _fields(self, query: str) -> dict[str, Any]:
        fields: dict[str, Any] = {"query": query, "scopes": self.scopes, "limit": self.k}
        if self.agent_id:
            fields["agent_id"] = self.agent_id
        if self.user_id:
            fields["user_id"] = self.user_id
        return fields

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        if isinstance(self.source, AsyncJarvisClient):
            raise TypeError("an AsyncJarvisClient answers only `ainvoke`; use JarvisClient for `invoke`")
        return _documents(self.source.search(**self._fields(query)))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        if isinstance(self.source, AsyncJarvisClient):
            return _documents(await self.source.search(**self._fields(query)))
        return _documents(await asyncio.to_thread(self.source.search, **self._fields(query)))


def _documents(found: dict) -> list[Document]:
    documents = []
    for hit in found.get("results", []):
        item = dict(hit.get("item") or {})
        text_field = next((f for f in TEXT_FIELDS if isinstance(item.get(f), str) and item[f]), None)
        text = item.pop(text_field) if text_field else json.dumps(item, default=str)
        metadata = {**item, "id": hit["id"], "scope": hit["scope"], "score": hit["score"]}
        documents.append(Document(page_content=text, metadata=metadata, id=str(hit["id"])))
    return documents


class JarvisChatMessageHistory(BaseChatMessageHistory):
    """A LangChain chat history kept as a JARVIS conversation (session), oldest message first.

    Messages are stored with their role (human → user, ai → assistant, system → system;
    other types as assistant, their LangChain type kept in the metadata), embedded, so the
    conversations scope of ``search`` finds them by meaning. With the facade, ``user_id``
    scopes the session to one user (through the HTTP client, a user-bound key does that).
    """

    def __init__(
        self, source: Any, session_id: str, *, user_id: str | None = None, agent_id: str | None = None
    ) -> None:
        self.source, self.session_id, self.user_id, self.agent_id = source, session_id, user_id, agent_id

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        rows: list[dict] = []
        while True:
            extra = {"user_id": self.user_id} if _is_facade(self.source) else {}
            page = self.source.conversation_history(self.session_id, limit=PAGE, offset=len(rows), **extra)
            rows += page
            if len(page) < PAGE:
                return [_message(row) for row in rows]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        for message in messages:
            content = message.content if isinstance(message.content, str) else json.dumps(message.content)
            metadata: dict[str, Any] = {"langchain_type": message.type}
            if message.name:
                metadata["name"] = message.name
            fields: dict[str, Any] = {
                "session_id": self.session_id,
                "role": ROLES.get(message.type, "assistant"),
                "content": content,
                "metadata": metadata,
            }
            if self.user_id:
                fields["user_id"] = self.user_id
            if self.agent_id:
                fields["agent_id"] = self.agent_id
            self.source.append_message(**fields)

    def clear(self) -> None:
        """Delete the session's messages (from PostgreSQL and, through the outbox, from Chroma).

        Only with the facade: the memory API has no route that deletes a conversation.
        """
        if not _is_facade(self.source):
            raise NotImplementedError("clearing a conversation needs the facade (the API has no route for it)")
        from jarvis.outbox import Event

        def work(conn):
            ids = [
                row["id"]
                for row in conn.execute(
                    DELETE_SESSION, {"session_id": self.session_id, "user_id": self.user_id}
                ).fetchall()
            ]
            return {"deleted": len(ids)}, [Event("conversation", key, "delete") for key in ids]

        self.source._write(work)


def _message(row: dict) -> BaseMessage:
    cls = MESSAGES.get(row.get("role"), AIMessage)
    return cls(content=row["content"], id=str(row["id"]), name=(row.get("metadata") or {}).get("name"))


__all__ = ["JarvisChatMessageHistory", "JarvisRetriever"]
