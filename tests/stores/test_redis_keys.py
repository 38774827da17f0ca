"""Every Redis key builder says whose data it holds, so an erasure can reach it."""

from __future__ import annotations

import inspect

from jarvis.stores import redis_keys


def test_every_key_builder_is_listed_with_its_owner_for_erasure() -> None:
    builders = {
        name
        for name, fn in inspect.getmembers(redis_keys, inspect.isfunction)
        if fn.__module__ == redis_keys.__name__ and not name.startswith(("_", "keys_of_"))
    }
    assert builders == set(redis_keys.OWNERS)


def test_an_id_cannot_widen_an_erasure_pattern() -> None:
    assert redis_keys.keys_of_api_key("a*b?[c]") == ["rate:limit:a\\*b\\?\\[c\\]:*"]
    assert redis_keys.keys_of_agent("x")[:2] == ["agent:comm:x:*", "agent:comm:*:x"]
