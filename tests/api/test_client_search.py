"""The Python client speaks the new search, validity and recall options over a real socket."""

from __future__ import annotations

import pytest

from jarvis.client import JarvisClient
from jarvis.errors import InvalidInput


def test_the_client_searches_by_mode_filter_and_time(server, make_key, name) -> None:
    key = make_key("read", "write")["X-API-Key"]
    with JarvisClient(server, api_key=key) as api:
        old = api.add_knowledge(
            topic=f"{name}-hq", content=f"The {name} headquarters are in Oslo.", valid_from="2024-01-01T00:00:00Z"
        )
        new = api.add_knowledge(
            topic=f"{name}-hq",
            content=f"The {name} headquarters are in Bergen.",
            valid_from="2025-01-01T00:00:00Z",
            supersedes=old["id"],
        )
        root = api.add_knowledge(
            topic=f"{name}-company", content=f"{name} makes ferries.", valid_from="2023-01-01T00:00:00Z"
        )
        try:
            api.relate_knowledge(root["id"], old["id"])
            api.relate_knowledge(root["id"], new["id"])
            ask = {"query": f"{name} headquarters", "scopes": ["knowledge"], "mode": "keyword"}
            facts = {old["id"], new["id"]}
            assert [h["id"] for h in api.search(**ask)["results"] if h["id"] in facts] == [new["id"]]
            then = api.search(**ask, as_of="2024-06-01T00:00:00Z")["results"]
            assert [h["id"] for h in then if h["id"] in facts] == [old["id"]]
            assert api.search(query=f"{name} headquarters", scopes=["knowledge"])["mode"] == "hybrid"
            assert [r["id"] for r in api.traverse_knowledge(f"{name}-company", max_hops=1)] == [new["id"]]
            assert [
                r["id"] for r in api.traverse_knowledge(f"{name}-company", max_hops=1, as_of="2024-06-01T00:00:00Z")
            ] == [old["id"]]
            with pytest.raises(InvalidInput) as refused:
                api.search(query="x", created_after="not a time")
            assert refused.value.field and "created_after" in refused.value.field
            agent = api.register_agent(name=f"{name}-mem", type="letta")
            api.put_memory(agent["id"], "core", "drink", "Ada orders green tea.")
            assert api.recall(agent["id"], "what does Ada drink", weights={"recency": 0.0})[0]["key"] == "drink"
        finally:
            for item in (new, old, root):
                api.delete_knowledge(item["id"])
