"""compose.yaml runs the same five stores on the seed's ports, plus the API."""

from __future__ import annotations

import yaml

from jarvis.paths import PROJECT_ROOT

SEED_PORTS = {"postgres": "10000", "redis": "10001", "neo4j": "10002", "chroma": "10100", "qdrant": "10101"}


def test_every_store_and_the_api_has_its_port_a_health_check_and_a_named_volume() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {*SEED_PORTS, "api"}
    for name, port in SEED_PORTS.items():
        assert services[name]["ports"][0].split(":")[0] == port
        assert services[name]["healthcheck"]["test"]
        volume = services[name]["volumes"][0].split(":")[0]
        assert volume in compose["volumes"]
    assert services["api"]["build"] == "."
    assert set(services["api"]["depends_on"]) == set(SEED_PORTS)


def test_no_password_is_written_in_compose_yaml() -> None:
    text = (PROJECT_ROOT / "compose.yaml").read_text()
    assert "${JARVIS_POSTGRES_PASSWORD:?" in text and "${JARVIS_NEO4J_PASSWORD:?" in text
