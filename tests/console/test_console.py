"""The operator's console in a real headless Chromium, against a real ``jarvis serve`` app
(uvicorn on a socket) and the test stack's real stores.

Screenshots of the overview, the graph explorer and the search playground are saved under
``.jarvis-test/<base>/screenshots/`` by every run. The README's pictures are taken over the
demo's world by the last test, which runs only when ``JARVIS_CONSOLE_SCREENSHOTS`` names the
folder to write them to:

    JARVIS_CONSOLE_SCREENSHOTS=docs/img scripts/test tests/console -k readme
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jarvis import local
from jarvis.paths import PROJECT_ROOT

WAIT_MS = 15_000
#: Shorter than the task board's safety-net reload (60 s): a task seen within this came live.
LIVE_MS = 10_000


@pytest.fixture(scope="module")
def world(jarvis, make_key) -> Iterator[dict]:
    """Agents, knowledge, events, tasks of two users and keys of each kind, removed afterwards."""
    name = f"c{uuid.uuid4().hex[:8]}"
    agent = jarvis.register_agent(
        name=f"{name}-scout",
        type="crewai",
        capabilities=[{"name": f"{name}-charting", "description": "Chart coastal tides"}],
    )
    jarvis.heartbeat(agent["id"], status="active")
    jarvis.put_memory(
        agent_id=agent["id"], memory_type="core", key="harbour", value="The harbour master is called Ines"
    )
    tides = jarvis.add_knowledge(
        topic=f"{name}-tides",
        agent_id=agent["id"],
        source="console-test",
        content=f"The lighthouse keeper of {name} island writes down the spring tides at dawn",
    )
    moon = jarvis.add_knowledge(topic=f"{name}-moon", content="The moon's pull raises the sea twice a day")
    orbit = jarvis.add_knowledge(topic=f"{name}-orbit", content="The moon circles the earth in about 27 days")
    jarvis.relate_knowledge(tides["id"], moon["id"])
    jarvis.relate_knowledge(moon["id"], orbit["id"])
    jarvis.log_event(
        event_type="tide_alert",
        severity="warning",
        source=f"{name}-sensor",
        agent_id=agent["id"],
        message="spring tide above the quay",
        details={"level": "high"},
    )
    ada, bob = f"{name}-ada", f"{name}-bob"
    tasks = [
        jarvis.create_task(name=f"{name}-ada-task", type="chat", requested_by=ada),
        jarvis.create_task(name=f"{name}-bob-task", type="chat", requested_by=bob),
    ]
    private = jarvis.register_agent(name=f"{name}-ada-private", type="letta", owner_user_id=ada)
    keys = {
        "admin": make_key("read", "write", "admin", name="console-admin"),
        "reader": make_key("read", name="console-reader"),
        "writer": make_key("read", "write", name="console-writer"),
        "bob": make_key("read", "write", user=bob, name="console-bob"),
    }
    world = {
        "name": name,
        "agent": agent,
        "private": private,
        "tasks": tasks,
        "ada": ada,
        "bob": bob,
        "keys": {k: v["X-API-Key"] for k, v in keys.items()},
        "created": [],
    }
    yield world
    for task in tasks + world["created"]:
        try:
            jarvis.cancel_task(task["id"])
        except Exception:  # noqa: BLE001 - already finished
            pass
    for item in (tides, moon, orbit):
        jarvis.delete_knowledge(item["id"])
    for user in (ada, bob):
        jarvis.forget_user(user)
    jarvis.delete_agent(agent["id"])


def _screenshot(page, name: str, folder: Path | None = None) -> Path:
    """A PNG of the page, reduced to a 64-colour palette (the README's copies stay small)."""
    from PIL import Image

    folder = folder or Path(os.environ["JARVIS_DATA_DIR"]) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"console-{name}.png"
    page.screenshot(path=str(path))
    Image.open(path).convert("RGB").quantize(colors=64).save(path, optimize=True)
    return path


@pytest.fixture
def open_console(browser, console_server) -> Iterator:
    """``open_console(key)``: a fresh browser context (no cookies) signed in with *key*."""
    contexts, errors = [], []

    def open_with(key: str | None, *, expect_refusal: bool = False):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{console_server}/console")
        page.wait_for_selector("#signin-form", state="visible")
        if key is not None:
            page.fill("#signin-key", key)
            page.click("#signin-submit")
            if not expect_refusal:
                page.wait_for_selector("#shell", state="visible")
        return page

    yield open_with
    for context in contexts:
        context.close()
    assert not errors, f"the page's script failed: {errors}"


def test_sign_in_shows_five_healthy_stores_live(open_console, world) -> None:
    page = open_console(world["keys"]["admin"])
    for store in ("postgres", "redis", "neo4j", "chroma", "qdrant"):
        page.wait_for_selector(f"[data-testid=store-{store}][data-up=true]")
    page.wait_for_selector("[data-testid=requests-rate]")  # the second sample: rates from /metrics deltas
    assert page.inner_text("[data-testid=overall-status]") == "ok"
    for queue in ("high", "medium", "low", "in-flight", "delayed"):
        assert page.inner_text(f"[data-testid=queue-{queue}] .value").isdigit()
    cookies = page.context.cookies()
    (cookie,) = [c for c in cookies if c["name"] == "jarvis_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert world["keys"]["admin"] not in cookie["value"] and world["keys"]["admin"] not in page.url
    assert page.evaluate("document.cookie") == ""  # script cannot read it
    _screenshot(page, "overview")


def test_search_shows_the_expected_hit_first_with_the_store_that_answered(open_console, world) -> None:
    page = open_console(world["keys"]["reader"])
    page.goto(page.url.split("#")[0] + "#/search")
    page.fill("[data-testid=search-query]", "when does the lighthouse keeper record the spring tides")
    page.click("[data-testid=search-run]")
    first = page.locator("[data-testid=search-hit]").first
    first.wait_for()
    assert world["name"] in first.locator("[data-testid=hit-caption]").inner_text()
    assert "chroma" in first.inner_text() and page.locator("[data-testid=search-degraded]").count() == 0
    _screenshot(page, "search")


def test_an_agents_page_shows_its_memory_events_and_capabilities(open_console, world) -> None:
    page = open_console(world["keys"]["reader"])
    page.goto(page.url.split("#")[0] + "#/agents")
    page.click(f"[data-testid=agent-row][data-name='{world['agent']['name']}']")
    page.wait_for_selector("[data-testid=agent-name]")
    assert world["agent"]["name"] in page.inner_text("[data-testid=agent-name]")
    assert "Ines" in page.inner_text("[data-testid=memory-core]")
    body = page.inner_text("main")
    assert "tide_alert" in body and f"{world['name']}-charting" in body


def test_the_graph_expands_from_a_topic_when_a_node_is_clicked(open_console, world) -> None:
    page = open_console(world["keys"]["reader"])
    page.goto(page.url.split("#")[0] + "#/graph")
    page.fill("[data-testid=graph-topic]", f"{world['name']}-tides")
    page.select_option("select[name=hops]", "1")
    page.click("[data-testid=graph-go]")
    page.locator("g.node").nth(1).wait_for()
    before = int(page.get_attribute("[data-testid=graph-svg]", "data-nodes"))
    moon = page.locator("g.node", has_text=f"{world['name']}-moon").first
    assert page.locator("g.node text", has_text=f"{world['name']}-orbit").count() == 0
    moon.dispatch_event("click")
    page.locator("g.node text", has_text=f"{world['name']}-orbit").first.wait_for()
    assert int(page.get_attribute("[data-testid=graph-svg]", "data-nodes")) > before
    page.wait_for_timeout(1500)  # let the layout settle for the picture
    _screenshot(page, "graph")


def test_a_task_created_on_the_page_or_elsewhere_appears_live(open_console, console_server, world) -> None:
    page = open_console(world["keys"]["writer"])
    page.goto(page.url.split("#")[0] + "#/tasks")
    page.wait_for_selector("[data-testid=live-status]:text('live')")
    page.fill("[data-testid=task-name]", f"{world['name']}-from-page")
    page.click("[data-testid=task-submit]")
    row = page.locator(f"[data-testid=task-row][data-name='{world['name']}-from-page']")
    row.wait_for(timeout=LIVE_MS)
    world["created"].append({"id": row.get_attribute("data-id")})
    created = httpx.post(
        f"{console_server}/api/v1/tasks",
        headers={"X-API-Key": world["keys"]["writer"]},
        json={"name": f"{world['name']}-from-api", "type": "autonomous", "priority": 9},
    ).json()
    world["created"].append(created)
    page.locator(f"[data-testid=task-row][data-id='{created['id']}']").wait_for(timeout=LIVE_MS)
    assert "pending" in page.locator(f"[data-testid=task-row][data-id='{created['id']}']").inner_text()


def test_a_stopped_chroma_turns_its_tile_red_and_search_says_degraded(open_console, settings, world) -> None:
    page = open_console(world["keys"]["reader"])
    page.wait_for_selector("[data-testid=store-chroma][data-up=true]")
    local.down(settings, ["chroma"])
    try:
        page.wait_for_selector("[data-testid=store-chroma][data-up=false]", timeout=30_000)
        assert page.inner_text("[data-testid=overall-status]") == "degraded"
        assert page.locator("[data-testid=store-postgres][data-up=true]").count() == 1
        page.goto(page.url.split("#")[0] + "#/search")
        page.fill("[data-testid=search-query]", "when does the lighthouse keeper record the spring tides")
        page.click("[data-testid=search-run]")
        banner = page.locator("[data-testid=search-degraded]")
        banner.wait_for(timeout=30_000)
        assert "chroma" in banner.inner_text()
        first = page.locator("[data-testid=search-hit]").first
        assert world["name"] in first.inner_text() and "pgvector" in first.inner_text()
    finally:
        local.up(settings, ["chroma"])
    page.goto(page.url.split("#")[0] + "#/overview")
    page.wait_for_selector("[data-testid=store-chroma][data-up=true]", timeout=30_000)


def test_live_events_stream_and_stored_events_are_searchable(open_console, jarvis, world) -> None:
    from playwright.sync_api import expect

    page = open_console(world["keys"]["reader"])
    page.goto(page.url.split("#")[0] + "#/events")
    page.locator("[data-testid=events-body] tr").first.wait_for()
    page.wait_for_selector("h2:has-text('Live channels') span:text('live')")
    jarvis.log_event(
        event_type="quay_flooded",
        severity="error",
        source=f"{world['name']}-gauge",
        agent_id=world["agent"]["id"],
        message="water over the quay",
        details={"metres": 1.2},
    )
    page.locator("[data-testid=live-line]", has_text=f"{world['name']}-gauge").wait_for(timeout=LIVE_MS)
    page.select_option("[data-testid=events-severity]", "error")
    page.fill("input[name=text]", world["name"])
    page.click("text=Search events")
    rows = page.locator("[data-testid=events-body] tr")
    expect(rows.filter(has_text="tide_alert")).to_have_count(0)  # a warning: below the chosen severity
    expect(rows.filter(has_text="quay_flooded")).to_have_count(1)


def test_only_an_admin_service_key_sees_the_operations(console_server, world, make_key) -> None:
    bound_admin = make_key("read", "write", "admin", user=world["bob"], name="console-bound-admin")["X-API-Key"]
    url = f"{console_server}/console/api/operations"
    for key in (world["keys"]["reader"], world["keys"]["writer"], world["keys"]["bob"], bound_admin):
        assert httpx.get(url, headers={"X-API-Key": key}).status_code == 403
    answer = httpx.get(url, headers={"X-API-Key": world["keys"]["admin"]})
    assert answer.status_code == 200 and "backup_dir" in answer.json()


def test_the_page_has_its_security_headers_at_both_of_its_addresses(console_server) -> None:
    for path in ("/console", "/console/static/index.html", "/console/static/app.js"):
        answer = httpx.get(f"{console_server}{path}")
        assert answer.status_code == 200, path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], path
        assert answer.headers["x-content-type-options"] == "nosniff", path


def test_a_bad_key_is_refused(open_console, console_server) -> None:
    for key in ("jm_000000000000_not-a-real-key-at-all", "nonsense"):
        page = open_console(key, expect_refusal=True)
        page.wait_for_selector("#signin-error:text('refused')")
        assert page.is_hidden("#shell")
        assert not [c for c in page.context.cookies() if c["name"] == "jarvis_console"]
    assert httpx.get(f"{console_server}/console/api/session").status_code == 401


def test_a_read_key_has_no_action_buttons_and_the_routes_refuse_it(open_console, world) -> None:
    page = open_console(world["keys"]["reader"])
    page.goto(page.url.split("#")[0] + "#/operations")
    page.wait_for_selector("text=Read-only")
    assert page.locator("[data-testid=admin-actions]").count() == 0
    assert page.locator(".sidebar a[data-view=operations]").is_hidden()
    page.goto(page.url.split("#")[0] + "#/tasks")
    page.wait_for_selector("[data-testid=task-counts] button")
    assert page.locator("[data-testid=task-form]").count() == 0
    statuses = page.evaluate("""async () => {
        const csrf = (await (await fetch('/console/api/session')).json()).csrf;
        const post = (path, headers) => fetch(path, {method: 'POST', headers}).then((r) => r.status);
        return {verify: await post('/console/api/operations/verify', {'X-CSRF-Token': csrf}),
                backup: await post('/console/api/operations/backup', {'X-CSRF-Token': csrf}),
                task: await fetch('/api/v1/tasks', {method: 'POST', body: '{"name": "x", "type": "chat"}',
                    headers: {'X-CSRF-Token': csrf, 'Content-Type': 'application/json'}}).then((r) => r.status),
                no_csrf: await post('/console/api/operations/verify', {})};
    }""")
    assert statuses == {"verify": 403, "backup": 403, "task": 403, "no_csrf": 403}


def test_an_admin_runs_the_operations_from_the_page(open_console, world) -> None:
    page = open_console(world["keys"]["admin"])
    page.goto(page.url.split("#")[0] + "#/operations")
    page.click("[data-testid=op-backup]")
    page.wait_for_selector("[data-testid=ops-message]:text('Back up now: done')", timeout=300_000)
    page.wait_for_selector("[data-testid=backup-row]")
    page.click("[data-testid=op-verify]")
    page.wait_for_selector("[data-testid=ops-message]:text('Verify stores: done')", timeout=120_000)
    page.click("[data-testid=op-retention]")
    page.wait_for_selector("[data-testid=ops-message]:text('Retention dry run: done')", timeout=120_000)
    assert "would delete" in page.inner_text("[data-testid=retention-report]")
    assert "not run" not in page.inner_text("[data-testid=verify-report]")


def test_the_operations_page_names_the_repair_of_a_half_done_restore(open_console, world, jarvis) -> None:
    """A restore died while swapping the graph: verify, run from the page, says what repairs it."""
    from jarvis.stores import neo4j_backup
    from jarvis.stores.neo4j import REPAIR_SWAP

    graph = jarvis.stores.get("neo4j").driver
    graph.execute_query(neo4j_backup.SET_SWAP_PHASE, phase=neo4j_backup.DELETE_PHASE)
    try:
        page = open_console(world["keys"]["admin"])
        page.goto(page.url.split("#")[0] + "#/operations")
        page.click("[data-testid=op-verify]")
        page.wait_for_selector("[data-testid=ops-message]:text('Verify stores: done')", timeout=120_000)
        repairs = page.locator("[data-testid=verify-repair]").all_inner_texts()
        assert f"repair: {REPAIR_SWAP}" in repairs, repairs
    finally:
        graph.execute_query(neo4j_backup.END_SWAP)


def test_a_user_bound_key_sees_only_its_users_data(open_console, world) -> None:
    page = open_console(world["keys"]["bob"])
    assert world["bob"] in page.inner_text("[data-testid=bound-user]")
    page.goto(page.url.split("#")[0] + "#/tasks")
    page.locator(f"[data-testid=task-row][data-name='{world['name']}-bob-task']").wait_for()
    body = page.inner_text("[data-testid=tasks-body]")
    assert f"{world['name']}-ada-task" not in body
    page.goto(page.url.split("#")[0] + "#/agents")
    page.wait_for_selector(f"[data-testid=agent-row][data-name='{world['agent']['name']}']")  # a shared agent
    assert page.locator(f"[data-testid=agent-row][data-name='{world['private']['name']}']").count() == 0
    answer = page.evaluate(f"""async () => {{
        const r = await fetch('/console/api/agents/{world["private"]["id"]}');
        const g = await fetch('/console/api/graph?node={world["private"]["id"]}');
        return [r.status, (await g.json()).nodes.length];
    }}""")
    assert answer == [404, 0]


def test_every_view_loads_from_this_server_only_in_under_300_kb(open_console, console_server, world) -> None:
    page = open_console(None)
    requested, assets = [], {}
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "response",
        lambda response: (
            assets.__setitem__(response.url, len(response.body()))
            if "/console" in response.url and "/console/api" not in response.url
            else None
        ),
    )
    page.reload()
    page.fill("#signin-key", world["keys"]["admin"])
    page.click("#signin-submit")
    page.wait_for_selector("#shell", state="visible")
    for view in ("overview", "search", "agents", "tasks", "graph", "events", "operations"):
        page.goto(f"{console_server}/console#/{view}")
        page.wait_for_selector(f".sidebar a.active[data-view={view}]")
    page.wait_for_load_state("networkidle")
    assert len(assets) >= 10 and sum(assets.values()) < 300_000, assets
    assert all(url.startswith((console_server, console_server.replace("http", "ws"), "data:")) for url in requested)


def test_readme_screenshots_over_the_demo_world(open_console, console_server, settings, world) -> None:
    """Every run saves the pictures under the test stack's folder; with JARVIS_CONSOLE_SCREENSHOTS
    (e.g. ``docs/img``) they replace the README's."""
    import threading

    from jarvis import demo

    chosen = os.environ.get("JARVIS_CONSOLE_SCREENSHOTS")
    folder = PROJECT_ROOT / chosen if chosen else settings.data_dir / "screenshots"
    admin = world["keys"]["admin"]
    report = demo.run(settings, base_url=console_server, api_key=admin)
    page = open_console(admin)
    done = threading.Event()

    def traffic() -> None:  # some requests of an agent's, so the request panel has a rate to show
        with httpx.Client(base_url=console_server, headers={"X-API-Key": admin}) as client:
            while not done.wait(0.05):
                client.get("/api/v1/agents", params={"limit": 5})

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    try:
        page.wait_for_selector("[data-testid=requests-rate]")
        page.wait_for_timeout(4_500)
    finally:
        done.set()
        worker.join()
    _screenshot(page, "overview", folder)
    page.goto(page.url.split("#")[0] + "#/search")
    page.fill("[data-testid=search-query]", report["search"]["question"])
    page.click("[data-testid=search-run]")
    page.locator("[data-testid=search-hit]").first.wait_for()
    _screenshot(page, "search", folder)
    page.goto(page.url.split("#")[0] + "#/graph")
    page.fill("[data-testid=graph-topic]", report["traversal"]["from"])
    page.select_option("select[name=hops]", "3")
    page.click("[data-testid=graph-go]")
    page.locator("g.node[data-label=Agent]").first.dispatch_event("click")
    page.wait_for_timeout(3_000)
    _screenshot(page, "graph", folder)
    page.goto(page.url.split("#")[0] + "#/tasks?status=pending")
    page.locator("[data-testid=task-row]").first.wait_for()
    _screenshot(page, "tasks", folder)
    page.goto(page.url.split("#")[0] + "#/agents")
    page.click(f"[data-testid=agent-row][data-name='{report['collaborations']['agent']}']")
    page.wait_for_selector("[data-testid=agent-name]")
    _screenshot(page, "agent", folder)
    for name in ("overview", "search", "graph", "tasks", "agent"):
        assert (folder / f"console-{name}.png").stat().st_size < 150_000
