"""A real browser for the console's tests: Debian's chromium, driven by Playwright for Python.

The browser is installed here when it is missing (``apt-get install chromium``, as root, like
CI), never downloaded by Playwright (``playwright install`` is never run: Playwright drives the
system's binary through ``executable_path``). Under CI (``CI=true``) a browser that cannot be
had fails the tests; elsewhere (not root, no apt) they are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvis.api.server import running_server

CHROMIUM = Path("/usr/bin/chromium")
#: Flags that work in this sandbox (Playwright adds --headless and a fresh --user-data-dir itself).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the console's browser tests need {reason}", pytrace=False)
    pytest.skip(reason)


def _install_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        _unavailable("Debian's chromium (apt-get install chromium, as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "chromium"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
        subprocess.run(install, env=env, capture_output=True, check=False)
    if not CHROMIUM.exists():
        _unavailable("Debian's chromium, which apt-get could not install")


@pytest.fixture(scope="module")
def browser(stack) -> Iterator[object]:
    """Headless chromium for a module (each test opens its own context: its own cookies). Not for
    the session: Playwright's sync API keeps an event loop running in this thread until it stops,
    and every later ``asyncio.run()`` (the MCP and LangChain tests) would refuse to start."""
    _install_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package (pyproject.toml's test extra; scripts/bootstrap.sh installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def console_server(settings, api_jarvis) -> Iterator[str]:
    """A real uvicorn serving the API and the console, one per module; yields its URL."""
    with running_server(settings, jarvis=api_jarvis, run_projector=False) as url:
        yield url
