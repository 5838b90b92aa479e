"""The compose stack and the Dockerfile, checked structurally (no Docker daemon needed):
the services exist, every mounted or copied file is in the repository, and the pieces
point at each other (Prometheus at the proxy, Grafana at Prometheus, the proxy at the
demo upstream)."""

from __future__ import annotations

import re

from proxy.config.loader import load_embedded_defaults, load_file
from tests.proxy.observability.support import DEPLOY, REPO, load_yaml

COMPOSE = load_yaml(DEPLOY / "compose.yaml")
SERVICES = COMPOSE["services"]
DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def test_compose_has_the_whole_stack_each_with_an_image() -> None:
    assert {"proxy", "demo-upstream", "redis", "prometheus", "grafana"} <= SERVICES.keys()
    for name, service in SERVICES.items():
        assert service.get("image") or service.get("build"), name
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file(), name


def test_compose_bind_mounts_exist_in_the_repository() -> None:
    named_volumes = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source in named_volumes:
                continue
            assert (DEPLOY / source).exists(), f"{name}: {source}"


def test_compose_publishes_proxy_prometheus_and_grafana() -> None:
    published = {name: [port.split(":")[0] for port in service.get("ports", [])]
                 for name, service in SERVICES.items()}
    assert published["proxy"] == ["8080"]
    assert published["prometheus"] == ["9090"]
    assert published["grafana"] == ["3000"]


def test_compose_commands_run_the_proxy_cli() -> None:
    # The image's entrypoint is `safety-proxy`; commands are its arguments.
    assert 'ENTRYPOINT ["safety-proxy"]' in DOCKERFILE
    assert SERVICES["proxy"]["command"] == [
        "serve", "--config", "/etc/safety-proxy/proxy.yaml"]
    assert "./proxy.compose.yaml:/etc/safety-proxy/proxy.yaml:ro" in SERVICES["proxy"]["volumes"]
    assert SERVICES["demo-upstream"]["command"] == [
        "demo-upstream", "--port", "8081", "--host", "0.0.0.0"]


def test_the_pieces_point_at_each_other() -> None:
    config = load_file(DEPLOY / "proxy.compose.yaml").config
    assert config.upstream.base_url == "http://demo-upstream:8081/v1"
    scrape = load_yaml(DEPLOY / "prometheus/prometheus.yml")["scrape_configs"][0]
    assert scrape["job_name"] == "safety-proxy"
    assert scrape["static_configs"][0]["targets"] == [f"proxy:{config.server.port}"]
    source = load_yaml(REPO / "grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    prometheus_mounts = SERVICES["prometheus"]["volumes"]
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in prometheus_mounts


def test_compose_proxy_config_is_the_defaults_but_for_network_and_log_format() -> None:
    shipped = load_file(DEPLOY / "proxy.compose.yaml").config.model_dump()
    defaults = load_embedded_defaults().config.model_dump()
    assert shipped["server"].pop("host") == "0.0.0.0"
    assert shipped["upstream"].pop("base_url") == "http://demo-upstream:8081/v1"
    assert shipped["logging"].pop("format") == "json"
    defaults["server"].pop("host"), defaults["upstream"].pop("base_url")
    defaults["logging"].pop("format")
    if "store" in shipped:  # the shared state store, once the config has that section
        assert shipped["store"].pop("url") == "redis://redis:6379/0"
        defaults["store"].pop("url")
    assert shipped == defaults


def test_dockerfile_is_multi_stage_non_root_with_a_health_check() -> None:
    assert len(re.findall(r"^FROM .+ AS \w+$", DOCKERFILE, re.M)) >= 2
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (health,) = re.findall(r"^HEALTHCHECK (?:.*\\\n)*.*", DOCKERFILE, re.M)
    assert "CMD" in health and "/healthz" in DOCKERFILE
    assert "ARG DETOXIFY_MODEL" in DOCKERFILE and "ARG EXTRAS" in DOCKERFILE


def test_dockerfile_copies_only_what_exists() -> None:
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.M):
        *sources, _destination = line.split()
        for source in sources:
            assert (REPO / source).exists(), source
