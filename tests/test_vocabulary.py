"""One home per vocabulary and per shape: the enums match PostgreSQL's CHECK constraints, every
layer takes its words from them, every route declares its response, and the client returns
exactly what each route declares. No store is needed."""

from __future__ import annotations

import inspect
import re
import uuid
from enum import StrEnum
from typing import get_type_hints

import pytest
from fastapi.routing import APIRoute

from jarvis import vocabulary as v
from jarvis.api import create_app
from jarvis.config import Settings
from jarvis.errors import InvalidInput
from jarvis.paths import PROJECT_ROOT
from jarvis.schemas import AgentIn, KnowledgeIn, SearchIn, parse, takes

MIGRATIONS = PROJECT_ROOT / "migrations"

#: Each enum and the CHECK constraint (named in the migrations) that holds the same words.
CONSTRAINTS = {
    v.AgentStatus: "agents_status_check",
    v.TaskStatus: "tasks_status_check",
    v.TaskType: "tasks_type_check",
    v.MessageType: "conversations_message_type_check",
    v.MessageRole: "conversations_role_check",
    v.ModelType: "models_type_check",
    v.ModelStatus: "models_status_check",
    v.CollaborationType: "collaborations_type_check",
    v.CollaborationStatus: "collaborations_status_check",
    v.Severity: "system_events_severity_check",
    v.MetricType: "performance_metrics_type_check",
    v.ImprovementType: "improvement_logs_type_check",
    v.MemoryType: "agent_memory_type_check",
    v.PreferenceType: "user_preferences_type_check",
    v.RelationshipType: "graph_edges_rel_type_check",
}


def _check_words(constraint: str) -> set[str]:
    """The words of the last definition of *constraint* across the migrations, in order."""
    text = "\n".join(path.read_text() for path in sorted(MIGRATIONS.glob("*.sql")))
    found = re.findall(rf"CONSTRAINT {constraint}\s+CHECK \(\w+ IN \(([^)]*)\)", text)
    assert found, f"no CHECK constraint {constraint} in the migrations"
    return set(re.findall(r"'([^']+)'", found[-1]))


@pytest.mark.parametrize("enum", list(CONSTRAINTS), ids=lambda e: e.__name__)
def test_each_enum_holds_the_words_postgresql_accepts(enum: type[StrEnum]) -> None:
    assert {member.value for member in enum} == _check_words(CONSTRAINTS[enum])


def test_erasure_subjects_match_the_receipts_table() -> None:
    text = (MIGRATIONS / "011_consistency.sql").read_text()
    words = re.search(r"CHECK \(subject_type IN \(([^)]*)\)\)", text).group(1)
    assert set(re.findall(r"'([^']+)'", words)) == {s.value for s in v.ErasureSubject}


def test_the_stores_and_the_search_take_their_words_from_the_enums() -> None:
    from jarvis.domain.search import SCOPES
    from jarvis.stores import neo4j, redis_keys

    assert set(SCOPES) == {scope.value for scope in v.SearchScope}
    assert set(neo4j.RELATIONSHIPS) == {rel.value for rel in v.RelationshipType}
    assert set(redis_keys.CHANNELS) == {channel.value for channel in v.Channel}


def test_the_cypher_builders_refuse_a_relationship_type_outside_the_enum() -> None:
    from jarvis.stores import neo4j

    assert "[r:RELATED_TO]" in neo4j._upsert_edges("RELATED_TO", "Knowledge", "Knowledge")
    for crafted in ("RELATED_TO]->(b) DETACH DELETE b //", "related_to", ""):
        with pytest.raises(ValueError):
            neo4j._upsert_edges(crafted, "Knowledge", "Knowledge")
        with pytest.raises(ValueError):
            neo4j._delete_edges(crafted, "Knowledge", "Knowledge")


def test_the_schemas_offer_the_enums_words_and_keep_plain_strings() -> None:
    agent = AgentIn.model_json_schema()
    assert agent["properties"]["status"]["enum"] == [s.value for s in v.REPORTED_AGENT_STATUSES]
    search = SearchIn.model_json_schema()
    assert search["$defs"]["SearchScope"]["enum"] == [s.value for s in v.SearchScope]
    spec = parse(SearchIn, {"query": "tea"})
    # validated (defaults too), a vocabulary field holds its plain word
    assert spec.scopes == ["knowledge", "conversations", "code"] and type(spec.mode) is str
    with pytest.raises(InvalidInput) as caught:
        parse(AgentIn, {"name": "a", "type": "t", "status": "terminated"})
    assert caught.value.field == "status" and "'active'" in caught.value.reason


class _Area:
    """A stand-in for a facade area: records what a @takes method received."""

    @takes(KnowledgeIn)
    def add(self, spec: KnowledgeIn, /, *, wait: bool | None = None) -> tuple[KnowledgeIn, bool | None]:
        return spec, wait


def test_a_domain_method_takes_its_model_or_its_fields_once() -> None:
    area = _Area()
    spec, wait = area.add(topic="tea", content="green", wait=False)
    assert isinstance(spec, KnowledgeIn) and spec.topic == "tea" and wait is False
    given = KnowledgeIn.model_construct(topic="not validated again", content="x")
    assert area.add(given)[0] is given  # the HTTP layer's model goes through as it is
    with pytest.raises(InvalidInput) as caught:
        area.add(topic="tea", content="")
    assert caught.value.field == "content"
    with pytest.raises(TypeError):
        area.add(given, topic="both")
    assert list(inspect.signature(_Area.add).parameters) == ["self", "spec", "wait"]


def test_facade_methods_say_what_they_take() -> None:
    from jarvis.facade import Jarvis

    for name in (
        "register_agent",
        "register_model",
        "create_task",
        "append_message",
        "put_memory",
        "add_knowledge",
        "add_code_snippet",
        "add_task_pattern",
        "upsert_user",
        "add_user_preference",
        "start_collaboration",
        "log_event",
        "record_metric",
        "log_improvement",
        "search",
    ):
        parameters = inspect.signature(getattr(Jarvis, name)).parameters
        assert "fields" not in parameters, name
        assert parameters["spec"].annotation.endswith("In"), name


@pytest.fixture(scope="module")
def app():
    return create_app(Settings.from_env())


def test_every_operation_declares_its_response(app) -> None:
    document = app.openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2") or path == "/metrics":
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema not in ({}, {"type": "object"}, {"additionalProperties": True, "type": "object"}), (
                    f"{method.upper()} {path} {status} says nothing about its body"
                )
    components = document["components"]["schemas"]
    assert {"LiveSubscribed", "LiveEvent", "StatusUpdate", "AgentMessage"} <= set(components)


def _arguments(method) -> tuple[list, dict]:
    """Plausible arguments for a client method (only the request's method and path matter)."""
    args, kwargs = [], {}
    for name, parameter in list(inspect.signature(method).parameters.items())[1:]:
        if parameter.default is not inspect.Parameter.empty or parameter.kind is parameter.VAR_KEYWORD:
            continue
        value = (
            {"task_id": str(uuid.uuid4())}
            if name == "lease"
            else {}
            if name in ("configuration", "message")
            else []
            if name == "messages"
            else "core"
            if name == "memory_type"
            else str(uuid.uuid4())
            if name.endswith("_id") or name.endswith("_agent")
            else "x"
        )
        if parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[name] = value
        else:
            args.append(value)
    return args, kwargs


def test_the_client_returns_what_each_route_declares() -> None:
    from jarvis.client import _Endpoints

    class Recorder(_Endpoints):
        def _call(self, method, path, *, json=None, params=None):
            self.request = (method, path)

    from jarvis.api.app import ROUTERS

    routes = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    recorder, checked = Recorder(), 0
    for name, method in inspect.getmembers(_Endpoints, inspect.isfunction):
        if name.startswith("_"):
            continue
        args, kwargs = _arguments(method)
        getattr(recorder, name)(*args, **kwargs)
        verb, path = recorder.request
        route = next((r for r in routes if verb in r.methods and r.path_regex.match(path)), None)
        assert route is not None, f"{name}: no route answers {verb} {path}"
        assert get_type_hints(method)["return"] == route.response_model, f"{name} vs {verb} {route.path}"
        checked += 1
    assert checked == len(routes) - 1  # every route but /metrics (text) has its client method
