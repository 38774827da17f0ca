"""LangChain agents read JARVIS Memory through its own interfaces: a retriever and a chat history."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage

from jarvis.api.server import running_server
from jarvis.client import AsyncJarvisClient, JarvisClient
from jarvis.integrations.langchain import JarvisChatMessageHistory, JarvisRetriever


@pytest.fixture(scope="module")
def server(settings, api_jarvis):
    with running_server(settings, jarvis=api_jarvis, run_projector=False) as url:
        yield url


@pytest.fixture
def axolotl(jarvis, name):
    item = jarvis.add_knowledge(
        topic=f"{name}-axolotl",
        source="zoology notes",
        content="The axolotl regrows lost limbs, its heart and even parts of its brain.",
    )
    yield item
    jarvis.delete_knowledge(item["id"])


def test_the_retriever_returns_documents_with_scores_and_metadata(jarvis, axolotl, name) -> None:
    retriever = JarvisRetriever(source=jarvis, scopes=["knowledge"], k=3)
    documents = retriever.invoke("which amphibian can regenerate a lost leg")
    assert all(isinstance(d, Document) for d in documents) and 1 <= len(documents) <= 3
    best = documents[0]
    assert best.page_content.startswith("The axolotl regrows")
    assert best.metadata["topic"] == f"{name}-axolotl" and best.metadata["source"] == "zoology notes"
    assert best.metadata["scope"] == "knowledge" and best.id == axolotl["id"]
    assert 0 < best.metadata["score"] <= 1
    scores = [d.metadata["score"] for d in documents]
    assert scores == sorted(scores, reverse=True)
    assert asyncio.run(retriever.ainvoke("which amphibian can regenerate a lost leg"))[0].id == axolotl["id"]


def test_the_retriever_works_over_the_http_client(server, make_key, axolotl) -> None:
    key = make_key("read")["X-API-Key"]
    with JarvisClient(server, api_key=key) as api:
        documents = JarvisRetriever(source=api, scopes=["knowledge"]).invoke(
            "which amphibian can regenerate a lost leg"
        )
    assert documents[0].id == axolotl["id"] and documents[0].metadata["score"] > 0

    async def asynchronously():
        async with AsyncJarvisClient(server, api_key=key) as api:
            return await JarvisRetriever(source=api, scopes=["knowledge"]).ainvoke(
                "salamander regeneration of body parts"
            )

    assert asyncio.run(asynchronously())[0].id == axolotl["id"]


def test_a_chat_history_is_a_conversation(jarvis, name) -> None:
    history = JarvisChatMessageHistory(jarvis, f"{name}-chat", user_id=f"{name}-ada")
    assert history.messages == []
    history.add_user_message("My cat Miso only eats salmon.")
    history.add_ai_message("Noted: salmon for Miso.")
    messages = history.messages
    assert [type(m) for m in messages] == [HumanMessage, AIMessage]
    assert [m.content for m in messages] == ["My cat Miso only eats salmon.", "Noted: salmon for Miso."]
    remembered = JarvisRetriever(source=jarvis, scopes=["conversations"], user_id=f"{name}-ada")
    assert remembered.invoke("what food does the pet like")[0].page_content == "My cat Miso only eats salmon."
    history.clear()
    assert history.messages == []
    assert JarvisChatMessageHistory(jarvis, f"{name}-chat").messages == []


def test_a_chat_history_over_http_belongs_to_the_keys_user(server, make_key, jarvis, name) -> None:
    ada = make_key("read", "write", user=f"{name}-ada")["X-API-Key"]
    bob = make_key("read", "write", user=f"{name}-bob")["X-API-Key"]
    try:
        with JarvisClient(server, api_key=ada) as api:
            history = JarvisChatMessageHistory(api, f"{name}-http-chat")
            history.add_messages([HumanMessage("Book a table for two at eight."), AIMessage("Booked for 20:00.")])
            assert [m.content for m in history.messages] == ["Book a table for two at eight.", "Booked for 20:00."]
            with pytest.raises(NotImplementedError):
                history.clear()
        with JarvisClient(server, api_key=bob) as api:
            assert JarvisChatMessageHistory(api, f"{name}-http-chat").messages == []
    finally:
        JarvisChatMessageHistory(jarvis, f"{name}-http-chat").clear()
