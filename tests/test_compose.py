"""compose.yaml runs the same five stores plus the API, private by default: only the API is
published, the stores sit on internal networks behind credentials, and no secret is on a
command line."""

from __future__ import annotations

import json
import re

import yaml
from pydantic import SecretStr

from jarvis.config import Settings
from jarvis.paths import PROJECT_ROOT
from jarvis.stores.chroma import client as chroma_client

STORES = ("postgres", "redis", "neo4j", "chroma", "qdrant")
SECRETS = (
    "JARVIS_POSTGRES_PASSWORD",
    "JARVIS_REDIS_PASSWORD",
    "JARVIS_NEO4J_PASSWORD",
    "JARVIS_CHROMA_TOKEN",
    "JARVIS_QDRANT_API_KEY",
    "JARVIS_GRAFANA_PASSWORD",
    "JARVIS_METRICS_API_KEY",
)
MONITORING = ("prometheus", "grafana")


def _compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())


def test_every_store_and_the_api_has_a_health_check_and_a_named_volume() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {*STORES, "chroma-gate", "api", *MONITORING}
    for name in STORES:
        assert services[name]["healthcheck"]["test"]
        volume = services[name]["volumes"][0].split(":")[0]
        assert volume in compose["volumes"]
    assert services["api"]["build"] == "."
    assert set(services["api"]["depends_on"]) == {"postgres", "redis", "neo4j", "chroma-gate", "qdrant"}


def test_only_the_api_is_published_on_the_host() -> None:
    services = _compose()["services"]
    assert services["api"]["ports"] == ["8000:8000"]
    assert services["grafana"]["ports"] == ["127.0.0.1:3000:3000"]  # the loopback only, and opt-in:
    assert all(services[name]["profiles"] == ["monitoring"] for name in MONITORING)
    for name, service in services.items():
        if name not in ("api", "grafana"):
            assert "ports" not in service and "expose" not in service, name
            assert service.get("network_mode") is None, name


def test_the_stores_are_on_internal_networks_and_chroma_only_behind_its_gate() -> None:
    compose = _compose()
    networks, services = compose["networks"], compose["services"]
    assert networks["stores"]["internal"] is True and networks["chroma"]["internal"] is True
    for name in ("postgres", "redis", "neo4j", "qdrant"):
        assert services[name]["networks"] == ["stores"], name
    assert services["chroma"]["networks"] == ["chroma"]
    on_chroma = {name for name, service in services.items() if "chroma" in service.get("networks", [])}
    assert on_chroma == {"chroma", "chroma-gate"}
    assert set(services["api"]["networks"]) == {"edge", "stores", "metrics"}
    assert networks["metrics"]["internal"] is True
    assert services["prometheus"]["networks"] == ["metrics"]  # it reaches the API, not the stores
    assert set(services["grafana"]["networks"]) == {"edge", "metrics"}


def test_chroma_demands_a_token_and_qdrant_an_api_key() -> None:
    services = _compose()["services"]
    gate = services["chroma-gate"]
    assert gate["environment"]["JARVIS_CHROMA_TOKEN"].startswith("${JARVIS_CHROMA_TOKEN:?")
    template_mount = next(v for v in gate["volumes"] if v.endswith("default.conf.template:ro"))
    template = (PROJECT_ROOT / template_mount.split(":")[0]).read_text()
    assert '$http_authorization != "Bearer ${JARVIS_CHROMA_TOKEN}"' in template and "return 401;" in template
    assert "proxy_pass http://chroma:8000;" in template
    assert services["qdrant"]["environment"]["QDRANT__SERVICE__API_KEY"].startswith("${JARVIS_QDRANT_API_KEY:?")
    api = services["api"]["environment"]
    assert api["JARVIS_CHROMA_HOST"] == "chroma-gate"
    assert api["JARVIS_CHROMA_TOKEN"] == "${JARVIS_CHROMA_TOKEN}"
    assert api["JARVIS_QDRANT_API_KEY"] == "${JARVIS_QDRANT_API_KEY}"


def test_no_secret_is_written_in_compose_yaml_nor_passed_on_a_command_line() -> None:
    text = (PROJECT_ROOT / "compose.yaml").read_text()
    for secret in ("JARVIS_POSTGRES_PASSWORD", "JARVIS_NEO4J_PASSWORD", "JARVIS_REDIS_PASSWORD"):
        assert "${" + secret + ":?" in text
    for name, service in _compose()["services"].items():
        # Secrets may reach a container through its environment only: nowhere else in its definition.
        outside_env = json.dumps({k: v for k, v in service.items() if k != "environment"})
        assert not any(secret in outside_env for secret in SECRETS), name
        for argv in (service.get("command"), service.get("healthcheck", {}).get("test")):
            line = " ".join(argv) if isinstance(argv, list) else (argv or "")
            assert not re.search(r"--requirepass|--password|(^|\s)-p\s|(^|\s)-a\s|NEO4J_AUTH=|:[^@/\s]+@", line), (
                name,
                line,
            )


def test_the_chroma_token_and_qdrant_key_reach_the_clients(settings: Settings) -> None:
    with_token = settings.model_copy(update={"chroma_token": SecretStr("s3cret-token")})
    session = chroma_client(with_token)._server._session  # type: ignore[attr-defined]
    assert session.headers["authorization"] == "Bearer s3cret-token"
    assert "authorization" not in chroma_client(settings)._server._session.headers  # type: ignore[attr-defined]
    assert "s3cret-token" not in repr(with_token)


def test_prometheus_scrapes_the_api_with_a_read_key_from_a_secret_file() -> None:
    compose = _compose()
    assert compose["secrets"]["jarvis_metrics_key"] == {"environment": "JARVIS_METRICS_API_KEY"}
    prometheus = compose["services"]["prometheus"]
    assert prometheus["secrets"] == ["jarvis_metrics_key"]
    mount = next(v for v in prometheus["volumes"] if v.endswith("/etc/prometheus/prometheus.yml:ro"))
    (job,) = yaml.safe_load((PROJECT_ROOT / mount.split(":")[0]).read_text())["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["api:8000"]}] and job["metrics_path"] == "/metrics"
    assert job["http_headers"] == {"X-API-Key": {"files": ["/run/secrets/jarvis_metrics_key"]}}


def test_grafana_is_provisioned_with_a_dashboard_of_metrics_the_api_exports() -> None:
    from jarvis.api.metrics import Metrics

    grafana = _compose()["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${JARVIS_GRAFANA_PASSWORD:?")
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1)[::-1] for v in grafana["volumes"] if v.startswith("./"))
    provisioning = PROJECT_ROOT / mounts["/etc/grafana/provisioning"]
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "jarvis.yaml").read_text())["providers"]
    dashboards = PROJECT_ROOT / mounts[provider["options"]["path"]]
    dashboard = json.loads((dashboards / "jarvis-memory.json").read_text())
    exported = {metric.name for metric in Metrics().registry.collect()}
    exported |= {f"{name}_{suffix}" for name in exported for suffix in ("total", "bucket", "sum", "count")}
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(jarvis_[a-z_]+)", target["expr"])
    }
    assert len(dashboard["panels"]) >= 8 and used and used <= exported, used - exported
    assert {target["datasource"]["uid"] for panel in dashboard["panels"] for target in panel["targets"]} == {
        source["uid"]
    }
