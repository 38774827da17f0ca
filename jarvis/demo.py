"""``jarvis demo``: a small, realistic world built through the HTTP API, then queried.

It starts the API on a loopback port with a temporary admin key (revoked at the end),
registers a dozen agents, their models, tasks with dependencies, conversations, a knowledge
graph, code snippets and preferences, and then shows what the platform is for: the best agent
for a task said in other words, a semantic search across scopes, a knowledge traversal, a
collaboration history, queue depths and store health.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from jarvis.client import JarvisClient
from jarvis.config import Settings

AGENTS = [
    ("atlas", "crewai", "translation", "Translate documents between French, German and English"),
    ("quill", "letta", "summarization", "Condense long reports into short executive briefs"),
    ("forge", "autogpt", "code-generation", "Write, refactor and debug Python web services"),
    ("probe", "autogpt", "test-writing", "Write unit and integration tests for Python code"),
    ("saffron", "letta", "meal-planning", "Plan weekly menus and grocery lists for a family"),
    ("voyager", "crewai", "travel-booking", "Book flights, trains and hotel rooms for trips"),
    ("ledger", "crewai", "bookkeeping", "Reconcile invoices, receipts and expense reports"),
    ("echo", "letta", "transcription", "Transcribe recorded speech and meetings into text"),
    ("sage", "letta", "tutoring", "Explain mathematics and physics concepts to students"),
    ("sentinel", "autogpt", "incident-response", "Diagnose server outages from logs and metrics"),
    ("scout", "crewai", "literature-search", "Find and compare scientific papers on a subject"),
    ("canvas", "autogpt", "interface-design", "Sketch user interfaces, wireframes and mockups"),
]
MODELS = [
    ("llama3-8b", "llm", "ollama", 4700),
    ("whisper-small", "whisper", "transformers", 460),
    ("piper-en", "tts", "local", 60),
]
KNOWLEDGE = [
    ("outage-2026-03", "The March outage began when the database connection pool was exhausted by a retry storm."),
    ("retry-storms", "Clients that retry immediately and without jitter multiply load on a struggling service."),
    ("exponential-backoff", "Backing off exponentially with random jitter spreads retries out over time."),
    ("circuit-breakers", "A circuit breaker stops calling a failing dependency until it has had time to recover."),
    ("sourdough", "A sourdough starter needs regular feeding with flour and water to stay active."),
]
CODE = [
    (
        "python",
        "retry with exponential backoff and jitter",
        "def backoff(attempt, base=0.5, cap=30):\n    return random.uniform(0, min(cap, base * 2 ** attempt))",
    ),
    ("python", "parse an ISO-8601 timestamp", "from datetime import datetime\nwhen = datetime.fromisoformat(text)"),
    (
        "yaml",
        "kubernetes liveness probe",
        "livenessProbe:\n  httpGet: {path: /health, port: 8000}\n  periodSeconds: 10",
    ),
]
QUESTIONS = {
    "best_agent": "My trip to Lyon needs a seat on the train and somewhere to sleep for two nights",
    "search": "why did the website go down when every client kept trying again",
}


def run(settings: Settings, *, base_url: str | None = None, api_key: str | None = None) -> dict[str, Any]:
    """Build the world and answer the questions; start a server and a key if none is given."""
    from jarvis import apikeys
    from jarvis.api.server import running_server
    from jarvis.stores.postgres import PostgresStore

    if base_url and api_key:
        with JarvisClient(base_url, api_key=api_key) as client:
            return _demo(client)
    owner = PostgresStore.connect(settings)
    key, record = apikeys.create_key(owner, name="jarvis demo", scopes=["read", "write", "admin"])
    try:
        with running_server(settings) as url, JarvisClient(url, api_key=key) as client:
            return _demo(client)
    finally:
        apikeys.revoke_key(owner, record["prefix"])
        owner.close()


def _demo(api: JarvisClient) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    named = lambda name: f"{name}-{run_id}"  # noqa: E731 - names are unique per run
    users = [api.upsert_user(named(u), name=u.title()) for u in ("ada", "grace")]
    models = {m: api.register_model(name=named(m), type=t, provider=p, size_mb=s) for m, t, p, s in MODELS}
    agents = {}
    for i, (name, kind, capability, description) in enumerate(AGENTS):
        agents[name] = api.register_agent(
            name=named(name),
            type=kind,
            performance_score=0.6 + (i % 4) / 10,
            capabilities=[{"name": named(capability), "description": description, "success_rate": 0.8 + (i % 3) / 20}],
        )
        api.assign_model(agents[name]["id"], models["whisper-small" if name == "echo" else "llama3-8b"]["id"])
    api.user_prefers(users[0]["id"], agents["voyager"]["id"])

    logs = api.create_task(
        name="collect logs",
        type="autonomous",
        priority=9,
        requested_by=users[1]["id"],
        agent_id=agents["sentinel"]["id"],
    )
    diagnose = api.create_task(name="diagnose outage", type="autonomous", priority=8, depends_on=[logs["id"]])
    api.create_task(name="write postmortem", type="chat", priority=5, depends_on=[diagnose["id"]])
    api.create_task(name="plan next week's dinners", type="scheduled", priority=2)

    items = {
        topic: api.add_knowledge(
            topic=named(topic), content=text, source="demo", category="operations", agent_id=agents["sentinel"]["id"]
        )
        for topic, text in KNOWLEDGE
    }
    chain = ["outage-2026-03", "retry-storms", "exponential-backoff", "circuit-breakers"]
    for a, b in zip(chain, chain[1:]):
        api.relate_knowledge(items[a]["id"], items[b]["id"])
    api.task_produced(logs["id"], items["outage-2026-03"]["id"])
    for language, purpose, content in CODE:
        api.add_code_snippet(
            language=language,
            purpose=purpose,
            content=content,
            agent_id=agents["forge"]["id"],
            tested=True,
            performance_score=0.9,
        )
    api.add_user_preference(
        users[0]["id"], preference_type="interface", description="Prefers short answers in dark mode"
    )
    api.add_user_preference(users[1]["id"], preference_type="agent", description="Wants incident updates every hour")
    for user, text in (
        (users[0], "Can you find me a train to Lyon on Friday?"),
        (users[1], "The checkout page is timing out again, is the API down?"),
    ):
        api.append_message(
            session_id=named(f"session-{user['id']}"),
            user_id=user["id"],
            role="user",
            content=text,
            agent_id=agents["voyager" if user is users[0] else "sentinel"]["id"],
        )
    for partner, times in (("forge", 2), ("probe", 1)):
        for _ in range(times):
            api.start_collaboration(
                coordinator_agent_id=agents["sentinel"]["id"],
                participant_agent_ids=[agents[partner]["id"]],
                collaboration_type="sequential",
                workflow={"steps": ["investigate", "fix", "verify"]},
            )

    best = api.best_agent(QUESTIONS["best_agent"], limit=3)
    found = api.search(query=QUESTIONS["search"], scopes=["knowledge", "code", "conversations"], limit=5)
    return {
        "run_id": run_id,
        "built": {
            "agents": len(agents),
            "models": len(models),
            "tasks": 4,
            "knowledge": len(items),
            "code_snippets": len(CODE),
            "users": len(users),
        },
        "best_agent": {
            "question": QUESTIONS["best_agent"],
            "ranking": [
                {"name": a["name"], "score": a["score"], "capability": a["matched_capability"]} for a in best["agents"]
            ],
        },
        "search": {
            "question": QUESTIONS["search"],
            "degraded": found["degraded"],
            "results": [
                {"scope": r["scope"], "score": r["score"], "text": (r["item"].get("content") or "")[:100]}
                for r in found["results"]
            ],
        },
        "traversal": {
            "from": named("outage-2026-03"),
            "reached": [
                {"topic": r["topic"], "hops": r["hops"]}
                for r in api.traverse_knowledge(named("outage-2026-03"), max_hops=3)
            ],
        },
        "collaborations": {
            "agent": named("sentinel"),
            "history": [
                {"with": h["name"], "count": h["collaboration_count"]}
                for h in api.collaboration_history(agents["sentinel"]["id"])
            ],
        },
        "queues": api.queue_depths(),
        "health": api.health(),
    }


def render(report: dict[str, Any]) -> str:
    """The report for a terminal."""
    lines = [
        f"JARVIS Memory demo (run {report['run_id']}): built "
        + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in report["built"].items()),
        "",
    ]
    lines.append(f'Best agent for: "{report["best_agent"]["question"]}"')
    lines += [
        f"  {i}. {a['name']:<22} score {a['score']:.3f}  ({a['capability']})"
        for i, a in enumerate(report["best_agent"]["ranking"], 1)
    ]
    lines += ["", f'Search: "{report["search"]["question"]}"']
    lines += [f"  {r['score']:.3f} [{r['scope']}] {r['text']}" for r in report["search"]["results"]]
    lines += ["", f"Knowledge reachable from {report['traversal']['from']}:"]
    lines += [f"  {r['hops']} hop{'s' if r['hops'] > 1 else ''}: {r['topic']}" for r in report["traversal"]["reached"]]
    lines += ["", f"Collaboration history of {report['collaborations']['agent']}:"]
    lines += [f"  {h['with']:<22} {h['count']}x" for h in report["collaborations"]["history"]]
    lines += ["", "Queues: " + ", ".join(f"{q.split(':')[-1]} {n}" for q, n in report["queues"].items())]
    health = report["health"]
    lines.append(
        f"Stores ({health['status']}): "
        + ", ".join(
            f"{s['store']} {'up' if s['up'] else 'DOWN'} {s['latency_ms'] or 0:.1f} ms" for s in health["stores"]
        )
    )
    return "\n".join(lines)


def main_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)
