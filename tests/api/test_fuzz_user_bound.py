"""The same fuzzing as ``test_fuzz.py``, with a key bound to one user: every operation the
schema allows either works for that user or is refused with a 4xx (403 for another user's
name, 404 for another user's ids) — a write that row-level security refuses is never a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

import pytest

from jarvis.api import create_app
from jarvis.config import Settings
from tests.api.test_fuzz import CHECKS

APP = create_app(Settings.from_env())
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def bound_headers(api_jarvis, make_key):
    APP.state.jarvis = api_jarvis
    return make_key("read", "write", "admin", user="fuzz-user", name="fuzz-user-bound")


@SCHEMA.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_off_schema_for_a_user_bound_key(case, bound_headers) -> None:
    case.call_and_validate(headers=bound_headers, checks=CHECKS)
