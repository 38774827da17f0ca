"""What needs no store: live events become resource URIs, our errors keep the REST shape."""

from __future__ import annotations

import json

from jarvis.errors import InvalidInput, LeaseLost, NotFound, StoreUnavailable
from jarvis.mcp_server.access import ToolFailure
from jarvis.mcp_server.resources import uris_for


def test_live_events_name_the_resources_they_change() -> None:
    assert uris_for("status_update", {"agent_id": "a1", "status": "active"}) == ["jarvis://agents/a1"]
    assert uris_for("task_assignment", {"task_id": "t1", "agent_id": "a1"}) == [
        "jarvis://tasks/t1",
        "jarvis://agents/a1",
    ]
    assert uris_for("system_monitoring", {"severity": "error"}) == ["jarvis://events/any", "jarvis://events/error"]
    assert uris_for("system_monitoring", {"severity": "nonsense"}) == ["jarvis://events/any"]
    assert uris_for("inter_agent_communication", {"from": "a", "to": "b"}) == []
    assert uris_for("status_update", ["not", "an", "object"]) == []


def test_tool_errors_carry_the_rest_error_body() -> None:
    cases = [
        (InvalidInput("priority", "must be at most 10"), "invalid_input", "priority"),
        (NotFound("agent x does not exist"), "not_found", None),
        (LeaseLost("the lease expired"), "lease_lost", None),
        (StoreUnavailable("postgres", "down"), "store_unavailable", None),
    ]
    for error, code, field in cases:
        body = json.loads(str(ToolFailure.from_error(error)))["error"]
        assert (body["code"], body["field"]) == (code, field)
        assert body["message"] == str(error)
