"""Fixtures the API tests share."""

from __future__ import annotations

import pytest

from jarvis.api.server import running_server


@pytest.fixture(scope="module")
def server(settings, api_jarvis):
    """A real uvicorn serving the API (no projector), one per test module; yields its URL."""
    with running_server(settings, jarvis=api_jarvis, run_projector=False) as url:
        yield url
