"""The LangGraph store keeps an agent's long-term memory in PostgreSQL with LangGraph's semantics.

LangGraph publishes no store conformance suite (its checkpoint conformance package covers
checkpointers only), so the contract is checked two ways: the behaviours its own store tests
assert (put/get/update/delete, search with filters and paging, namespaces with prefix, suffix,
wildcards and depth, batches, bad namespaces), and the same operations run against LangGraph's
reference ``InMemoryStore``, whose answers ours must equal.
"""

from __future__ import annotations

import asyncio

import pytest
from langgraph.store.base import GetOp, InvalidNamespaceError, ListNamespacesOp, MatchCondition, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

from jarvis.integrations.langgraph_store import JarvisStore
from jarvis.principal import acting_as


@pytest.fixture
def store(jarvis, name):
    """A store whose every namespace starts with the test's own label; emptied afterwards."""
    store = JarvisStore(jarvis)
    yield store
    for namespace in store.list_namespaces(prefix=(name,), limit=10_000):
        for item in store.search(namespace, limit=10_000):
            if item.namespace == namespace:
                store.delete(namespace, item.key)


def fill(store, name: str) -> None:
    docs = {
        (name, "users", "ada"): {
            "pref": {"language": "en", "theme": "dark"},
            "score": 4.5,
            "color": "red",
            "tags": ["a", "b"],
            "text": "Ada prefers dark mode and short answers",
        },
        (name, "users", "bob"): {
            "pref": {"language": "fr", "theme": "light"},
            "score": 3.0,
            "color": "blue",
            "tags": ["b"],
            "text": "Bob writes in French and likes long explanations",
        },
        (name, "docs", "v1"): {"score": 5.0, "color": "red", "text": "Release notes of version one"},
        (name, "docs", "v2", "draft"): {"score": 1.5, "color": "green", "text": "A draft of version two"},
    }
    for (*namespace, key), value in docs.items():
        store.put(tuple(namespace), key, value)


def keys(items) -> list[str]:
    return sorted(item.key for item in items)


def test_put_get_update_delete(store, name) -> None:
    namespace = (name, "profile")
    assert store.get(namespace, "ada") is None
    store.put(namespace, "ada", {"likes": "tea"})
    first = store.get(namespace, "ada")
    assert (first.namespace, first.key, first.value) == (namespace, "ada", {"likes": "tea"})
    store.put(namespace, "ada", {"likes": "coffee"})
    second = store.get(namespace, "ada")
    assert second.value == {"likes": "coffee"} and second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    store.delete(namespace, "ada")
    assert store.get(namespace, "ada") is None
    store.delete(namespace, "ada")  # deleting what is gone is harmless


def test_a_value_nested_300_levels_is_refused_naming_the_field_and_nothing_is_written(store, name) -> None:
    from jarvis.errors import InvalidInput

    deep: dict = {"leaf": 1}
    for _ in range(299):
        deep = {"n": deep}
    with pytest.raises(InvalidInput) as refused:
        store.put((name, "deep"), "k", deep)
    assert refused.value.field == "value"
    assert store.get((name, "deep"), "k") is None


def test_search_filters_and_pages_as_the_reference_store_does(store, name) -> None:
    reference = InMemoryStore()
    fill(store, name)
    fill(reference, name)
    cases = [
        ((name,), dict()),
        ((name, "users"), dict()),
        ((name,), dict(filter={"color": "red"})),
        ((name,), dict(filter={"score": {"$gt": 4.0}})),
        ((name,), dict(filter={"score": {"$gte": 3.0, "$lt": 5.0}})),
        ((name,), dict(filter={"color": {"$ne": "red"}})),
        ((name,), dict(filter={"pref": {"language": "fr"}})),
        ((name,), dict(filter={"tags": ["b"]})),
        ((name,), dict(filter={"missing": None})),
        ((name,), dict(filter={"color": "red", "score": {"$lte": 4.5}})),
        ((name, "nowhere"), dict()),
    ]
    for prefix, case in cases:
        ours, theirs = store.search(prefix, **case, limit=100), reference.search(prefix, **case, limit=100)
        assert keys(ours) == keys(theirs), case
        assert all(item.score is None for item in ours)
    everything = store.search((name,), limit=100)
    pages = store.search((name,), limit=2) + store.search((name,), limit=2, offset=2)
    assert [i.key for i in pages] == [i.key for i in everything]  # stable paging, newest first
    assert len(store.search((name,), filter={"score": {"$gt": 1.0}}, limit=2, offset=1)) == 2


def test_namespaces_are_listed_as_the_reference_store_lists_them(store, name) -> None:
    reference = InMemoryStore()
    fill(store, name)
    fill(reference, name)
    cases = [
        dict(prefix=(name,)),
        dict(prefix=(name, "users")),
        dict(prefix=(name,), suffix=("draft",)),
        dict(prefix=(name, "*", "v2")),
        dict(prefix=(name,), max_depth=2),
        dict(prefix=(name,), limit=2, offset=1),
    ]
    for case in cases:
        assert store.list_namespaces(**case) == reference.list_namespaces(**case), case
    assert store.list_namespaces(prefix=(name,), max_depth=2) == [(name, "docs"), (name, "users")]


def test_a_batch_reads_before_it_writes_and_the_last_write_wins(store, name) -> None:
    namespace = (name, "batch")
    store.put(namespace, "old", {"n": 0})
    results = store.batch(
        [
            PutOp(namespace, "new", {"n": 1}),
            GetOp(namespace, "old"),
            GetOp(namespace, "new"),
            PutOp(namespace, "new", {"n": 2}),
            SearchOp((name, "batch")),
            ListNamespacesOp(match_conditions=(MatchCondition("prefix", (name,)),)),
            PutOp(namespace, "old", None),
        ]
    )
    assert results[0] is None and results[1].value == {"n": 0} and results[2] is None
    assert keys(results[4]) == ["old"] and results[5] == [namespace]
    assert store.get(namespace, "new").value == {"n": 2} and store.get(namespace, "old") is None

    async def asynchronously():
        await store.aput(namespace, "async", {"n": 3})
        return await store.aget(namespace, "async"), await store.asearch(namespace)

    got, found = asyncio.run(asynchronously())
    assert got.value == {"n": 3} and "async" in keys(found)


def test_bad_namespaces_are_refused(store, name) -> None:
    for namespace in [(), ("langgraph", "x"), (name, "a.b"), (name, "")]:
        with pytest.raises(InvalidNamespaceError):
            store.put(namespace, "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.batch([GetOp((name, "a.b"), "k")])


def test_search_by_meaning_ranks_with_scores(jarvis, store, name) -> None:
    store = JarvisStore(jarvis, index=["text"])  # embed the text field, as LangGraph's index={"fields": [...]}
    fill(store, name)
    found = store.search((name,), query="which user wants a dark interface", limit=3)
    assert found[0].key == "ada" and found[0].score is not None
    assert [item.score for item in found] == sorted((item.score for item in found), reverse=True)
    only_docs = store.search((name, "docs"), query="what changed in the first release")
    assert only_docs[0].key == "v1" and {item.namespace[1] for item in only_docs} == {"docs"}
    store.put((name, "plain"), "unindexed", {"text": "dark mode"}, index=False)
    unindexed = store.search((name, "plain"), query="dark mode")
    assert [(item.key, item.score) for item in unindexed] == [("unindexed", None)]


def test_each_user_sees_only_their_own_items(jarvis, api_jarvis, name) -> None:
    """Through the API's PostgreSQL role, row-level security keeps users' items apart."""
    store = JarvisStore(api_jarvis)
    namespace = (name, "memories")
    try:
        with acting_as(f"{name}-ada"):
            store.put(namespace, "secret", {"text": "Ada's locker code is 4711"})
            assert store.get(namespace, "secret").value == {"text": "Ada's locker code is 4711"}  # hers, seen
            assert keys(store.search((name,))) == ["secret"]
        with acting_as(f"{name}-bob"):
            assert store.get(namespace, "secret") is None
            assert store.search((name,)) == [] and store.list_namespaces(prefix=(name,)) == []
            store.put(namespace, "secret", {"text": "Bob's own"})  # his own item, not hers
        with acting_as(f"{name}-ada"):
            assert store.get(namespace, "secret").value == {"text": "Ada's locker code is 4711"}
        with jarvis._postgres() as conn:  # the database itself holds both, each under its owner
            owners = conn.execute(
                "SELECT owner FROM langgraph_items WHERE namespace[1] = %s ORDER BY owner", (name,)
            ).fetchall()
        assert [row["owner"] for row in owners] == [f"{name}-ada", f"{name}-bob"]
    finally:
        for user in ("ada", "bob"):
            with acting_as(f"{name}-{user}"):
                store.delete(namespace, "secret")


def test_a_graph_remembers_through_the_store(jarvis, name) -> None:
    """The README's example: a LangGraph graph compiled with the store, a node using it."""
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.store.base import BaseStore

    store = JarvisStore(jarvis, index=["text"])
    namespace = (name, "memories", "ada")

    def remember_and_recall(state: MessagesState, *, store: BaseStore) -> dict:
        store.put(namespace, "tea", {"text": "Ada drinks green tea every morning"})
        store.put(namespace, "bike", {"text": "Ada cycles to work"})
        found = store.search(namespace, query="what does the user drink", limit=3)
        return {"messages": [("ai", found[0].value["text"])]}

    builder = StateGraph(MessagesState)
    builder.add_node(remember_and_recall)
    builder.add_edge(START, "remember_and_recall")
    try:
        answer = builder.compile(store=store).invoke({"messages": [("user", "hi")]})
        assert answer["messages"][-1].content == "Ada drinks green tea every morning"
    finally:
        for key in ("tea", "bike"):
            store.delete(namespace, key)
