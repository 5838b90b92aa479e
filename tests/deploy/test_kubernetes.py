"""The Kubernetes manifests (deploy/kubernetes): each overlay renders with `kubectl
kustomize`, every object passes the Kubernetes schemas (kubernetes-validate, offline) and
checkov, and the manifests keep the proxy's contract: the config they mount loads with the
proxy's own loader, probes and ports follow its server.port, the grace period covers its
drain, secrets come from Secrets only, and the PrometheusRule is the shipped rule files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxy import __version__
from proxy.config.loader import load_file
from proxy.config.schema import ProxyConfig
from tests.deploy import prometheus_rule
from tests.deploy.support import (
    CRD_KINDS,
    KUBERNETES,
    OVERLAYS,
    REPO,
    find,
    kubectl,
    lint_tool,
    render,
    write_objects,
)

# Checks skipped in the manifests (checkov.io/skip annotations), each with its reason there.
ALLOWED_SKIPS = {
    "CKV_K8S_35": "the proxy and Redis read their secrets from environment variables",
    "CKV_K8S_43": "image digests are the operator's to pin (kustomize images)",
}
SCHEMA_VERSIONS = ("1.30.0", "1.37.0")  # an older supported cluster and the newest shipped
CONFIG_PATH = "/etc/safety-proxy/proxy.yaml"
DOCKERFILE = (REPO / "deploy" / "Dockerfile").read_text()
SECRET_ENV = {"SAFETY_PROXY_UPSTREAM_API_KEY", "SAFETY_PROXY_PRINCIPAL_SECRET",
              "SAFETY_PROXY_ADMIN_TOKEN"}

each_overlay = pytest.mark.parametrize("overlay", OVERLAYS)


def proxy_config(objects: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> ProxyConfig:
    """The ConfigMap's proxy.yaml, loaded by the proxy's own loader (a typo fails here)."""
    raw = find(objects, "ConfigMap", "safety-proxy-config")["data"]["proxy.yaml"]
    # auth.mode keys needs the identity secret at load time; the pod has it from the Secret.
    monkeypatch.setenv("SAFETY_PROXY_PRINCIPAL_SECRET", "test-only")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "proxy.yaml"  # as mounted: the key's name, the data as written
        path.write_text(raw)
        return load_file(path).config


def proxy_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return find(objects, "Deployment", "safety-proxy")["spec"]["template"]["spec"]


def proxy_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = proxy_pod(objects)["containers"]
    return container


def container_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port (a number or a containerPort name) as a number."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


# Rendering, schemas, lint


@each_overlay
def test_renders_the_expected_objects(overlay: str) -> None:
    objects = render(overlay)
    kinds = {obj["kind"] for obj in objects}
    assert {"Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service",
            "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"} <= kinds
    assert ("HorizontalPodAutoscaler" in kinds) == (overlay != "single")
    assert ("StatefulSet" in kinds) == (overlay == "replicated")
    assert "Secret" not in kinds  # created by the operator (secret.example.yaml)
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "safety-proxy", obj["metadata"]["name"]
    # The tag is this checkout's version; the name stays `safety-proxy` so that an
    # operator's overlay can still match it (test_an_operator_overlay_...).
    assert proxy_container(objects)["image"] == f"safety-proxy:{__version__}"


@each_overlay
def test_objects_pass_the_kubernetes_schemas(overlay: str, tmp_path: Path) -> None:
    validate = lint_tool("kubernetes-validate")
    builtin = [obj for obj in render(overlay) if obj["kind"] not in CRD_KINDS]
    files = [str(path) for path in write_objects(builtin, tmp_path)]
    for version in SCHEMA_VERSIONS:
        done = subprocess.run([validate, "--strict", "--kubernetes-version", version, *files],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"Kubernetes {version}:\n{done.stdout}{done.stderr}"
        assert done.stdout.count("passed for resource") == len(files), done.stdout


@each_overlay
def test_the_schema_check_catches_a_misspelt_field(overlay: str, tmp_path: Path) -> None:
    validate = lint_tool("kubernetes-validate")
    deployment = find(render(overlay), "Deployment")
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 45
    (path,) = write_objects([deployment], tmp_path)
    done = subprocess.run([validate, "--strict", "--kubernetes-version", SCHEMA_VERSIONS[0],
                           str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "terminationGracePeriodSecond" in done.stdout + done.stderr


@each_overlay
def test_checkov_finds_nothing_but_the_documented_skips(overlay: str, tmp_path: Path) -> None:
    checkov = lint_tool("checkov")
    write_objects(render(overlay), tmp_path)
    # --skip-download: no call to the vendor's platform (this machine has no network).
    done = subprocess.run([checkov, "-d", str(tmp_path), "--framework", "kubernetes",
                           "--output", "json", "--skip-download"],
                          capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(done.stdout)
    assert isinstance(report, dict), done.stdout[:2000]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [], failed
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 50
    skipped = {c["check_id"] for c in report["results"]["skipped_checks"]}
    assert skipped <= ALLOWED_SKIPS.keys(), skipped - ALLOWED_SKIPS.keys()


# The proxy's contract


@each_overlay
def test_config_loads_with_the_proxys_own_loader(overlay: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    config = proxy_config(render(overlay), monkeypatch)
    assert config.server.host == "0.0.0.0"
    assert config.store.url == "memory" and config.store.url_env == "SAFETY_PROXY_STORE_URL"
    assert config.admin.host == "127.0.0.1"  # the admin API stays inside the pod
    assert config.reload.watch
    # Secrets are named, never written in the ConfigMap.
    assert config.upstream.api_key is None and config.identity.secret is None
    assert config.admin.token is None


@each_overlay
def test_config_is_mounted_as_a_directory_so_it_reloads(overlay: str) -> None:
    objects = render(overlay)
    container, pod = proxy_container(objects), proxy_pod(objects)
    assert container["args"] == ["serve", "--config", CONFIG_PATH]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "config"]
    assert mount["mountPath"] == str(Path(CONFIG_PATH).parent)
    assert "subPath" not in mount  # a subPath mount never sees ConfigMap updates
    (volume,) = [v for v in pod["volumes"] if v["name"] == "config"]
    assert volume["configMap"]["name"] == find(objects, "ConfigMap")["metadata"]["name"]
    assert "items" not in volume["configMap"]  # the file keeps its key's name


@each_overlay
def test_probes_and_ports_follow_server_port(overlay: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    objects = render(overlay)
    port = proxy_config(objects, monkeypatch).server.port
    container = proxy_container(objects)
    env = {var["name"]: var.get("value") for var in container["env"]}
    # The environment wins over the config (proxy/commands/serve.py): they must agree.
    assert int(env["SAFETY_PROXY_PORT"]) == port
    assert env["SAFETY_PROXY_HOST"] == "0.0.0.0"
    probes = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in probes.items():
        assert container[probe]["httpGet"]["path"] == path
        assert container_port(container, container[probe]["httpGet"]["port"]) == port
    service = find(objects, "Service", "safety-proxy")
    (service_port,) = service["spec"]["ports"]
    assert container_port(container, service_port["targetPort"]) == port
    assert service["spec"]["selector"].items() <= \
        find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"].items()


@each_overlay
def test_admin_port_is_not_exposed(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = render(overlay)
    admin_port = proxy_config(objects, monkeypatch).admin.port
    assert admin_port not in [p["containerPort"] for p in proxy_container(objects)["ports"]]
    for service in (obj for obj in objects if obj["kind"] == "Service"):
        assert admin_port not in [p["port"] for p in service["spec"]["ports"]]


@each_overlay
def test_grace_period_covers_the_drain(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = render(overlay)
    server = proxy_config(objects, monkeypatch).server
    written = yaml.safe_load(find(objects, "ConfigMap")["data"]["proxy.yaml"])["server"]
    assert {"drain_s", "shutdown_timeout_s"} <= written.keys()  # explicit, not defaults
    pod = proxy_pod(objects)
    assert pod["terminationGracePeriodSeconds"] >= server.drain_s + server.shutdown_timeout_s + 5
    # The proxy drains itself on SIGTERM; a preStop sleep would only lengthen every stop
    # (deploy/kubernetes/base/deployment.yaml says why).
    assert "lifecycle" not in proxy_container(objects)


@each_overlay
def test_pods_run_hardened(overlay: str) -> None:
    objects = render(overlay)
    uid = int(re.search(r"--uid (\d+)", DOCKERFILE).group(1))  # type: ignore[union-attr]
    home = re.search(r"--home-dir (\S+)", DOCKERFILE).group(1)  # type: ignore[union-attr]
    pod, container = proxy_pod(objects), proxy_container(objects)
    assert pod["securityContext"]["runAsUser"] == container["securityContext"]["runAsUser"] == uid
    assert pod["automountServiceAccountToken"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert {mounts["/tmp"], mounts[home]} <= empty_dirs  # writable with a read-only root
    workloads = [find(objects, "Deployment")]
    if overlay == "replicated":
        workloads.append(find(objects, "StatefulSet"))
    for workload in workloads:
        spec = workload["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for each in spec["containers"]:
            context = each["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert each["resources"]["requests"] and each["resources"]["limits"]


@each_overlay
def test_secrets_come_from_secrets(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = render(overlay)
    config = proxy_config(objects, monkeypatch)
    env = {var["name"]: var for var in proxy_container(objects)["env"]}
    named = {config.upstream.api_key_env, config.identity.secret_env, config.admin.token_env}
    assert named == SECRET_ENV
    for name in named:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "safety-proxy", name
    assert env["SAFETY_PROXY_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    store_url = env.get(config.store.url_env or "")
    if overlay == "single":
        assert store_url == {"name": config.store.url_env, "value": "memory"}
    elif overlay == "external-redis":
        assert store_url["valueFrom"]["secretKeyRef"] == {"name": "safety-proxy-redis",
                                                          "key": "url"}
    else:
        names = list(env)  # $(VAR) expands only variables defined before it
        assert names.index("SAFETY_PROXY_REDIS_PASSWORD") < names.index(config.store.url_env)
        assert env["SAFETY_PROXY_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "safety-proxy-redis", "key": "password"}
        redis = find(objects, "Service", "safety-proxy-redis")
        assert store_url["value"] == (f"redis://:$(SAFETY_PROXY_REDIS_PASSWORD)@"
                                      f"{redis['metadata']['name']}:"
                                      f"{redis['spec']['ports'][0]['port']}/0")


@each_overlay
def test_the_secret_example_covers_every_reference_and_is_never_applied(overlay: str) -> None:
    example = {doc["metadata"]["name"]: doc["stringData"] for doc in
               yaml.safe_load_all((KUBERNETES / "secret.example.yaml").read_text())}
    for path in KUBERNETES.rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(path.read_text())
        listed = [*kustomization.get("resources", []), *kustomization.get("bases", [])]
        assert not [entry for entry in listed if "secret" in entry], path
    for obj in render(overlay):
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in example[ref["name"]], ref


@each_overlay
def test_replicas_and_autoscaling(overlay: str) -> None:
    objects = render(overlay)
    deployment = find(objects, "Deployment", "safety-proxy")
    if overlay == "single":
        assert deployment["spec"]["replicas"] == 1
        return
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    hpa = find(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "safety-proxy"}
    assert hpa["spec"]["minReplicas"] >= 2
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert "cpu" in proxy_container(objects)["resources"]["requests"]  # Utilization needs it
    # The two replicated overlays carry the same HPA.
    source = (KUBERNETES / "overlays" / overlay / "hpa.yaml").read_text()
    assert source == (KUBERNETES / "overlays" / "replicated" / "hpa.yaml").read_text()


@each_overlay
def test_disruption_budget_and_network_policy_select_the_proxy(overlay: str) -> None:
    objects = render(overlay)
    labels = find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    budget = find(objects, "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels
    assert budget["spec"]["maxUnavailable"] == 1  # never blocks a drain, even at 1 replica
    policy = find(objects, "NetworkPolicy", "safety-proxy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels


def test_redis_keeps_an_append_only_file_on_a_volume() -> None:
    objects = render("replicated")  # the one overlay that runs Redis in the cluster
    redis = find(objects, "StatefulSet", "safety-proxy-redis")
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    script = container["args"][0]
    assert "--appendonly yes" in script and "--appendfsync everysec" in script
    assert "requirepass" in script and "$REDIS_PASSWORD" in script
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in container["volumeMounts"]
    policy = find(objects, "NetworkPolicy", "safety-proxy-redis")
    (rule,) = policy["spec"]["ingress"]
    proxy_labels = find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert rule["from"][0]["podSelector"]["matchLabels"].items() <= proxy_labels.items()


# Monitoring (Prometheus Operator CRDs: checked structurally, they have no built-in schema)


@each_overlay
def test_service_monitor_scrapes_metrics_on_the_client_port(overlay: str) -> None:
    objects = render(overlay)
    monitor = find(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = find(objects, "Service", "safety-proxy")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        service["metadata"]["labels"].items()
    redis = [obj for obj in objects if obj["kind"] == "Service" and obj is not service]
    for other in redis:  # the monitor selects the proxy's Service only
        assert not monitor["spec"]["selector"]["matchLabels"].items() <= \
            other["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in [port["name"] for port in service["spec"]["ports"]]
    # The job label is the Service's name by default: the shipped alerts match it.
    assert "jobLabel" not in monitor["spec"]
    assert 'up{job="safety-proxy"}' in (REPO / "deploy/prometheus/rules/alerts.yml").read_text()
    assert service["metadata"]["name"] == "safety-proxy"


@each_overlay
def test_prometheus_rule_is_the_shipped_rule_files(overlay: str) -> None:
    rule = find(render(overlay), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == prometheus_rule.rule_groups(), (
        "deploy/kubernetes/monitoring/prometheusrule.yaml differs from deploy/prometheus/rules: "
        "run `python -m tests.deploy.prometheus_rule`")
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for each in group["rules"]:
            assert ("record" in each) != ("alert" in each) and each["expr"], each
    assert (KUBERNETES / "monitoring/prometheusrule.yaml").read_text() == prometheus_rule.render()


# Kustomize v2.0.3 (the one inside Debian's kubectl 1.20) reads directories from `bases:`
# only and knows no `patches:`, `labels:`, `replicas:` or `components:`.


@each_overlay
def test_kustomizations_stay_readable_by_old_kustomize(overlay: str) -> None:
    root = KUBERNETES / "overlays" / overlay
    folders = [root, *(KUBERNETES / name for name in ("base", "monitoring", "redis"))]
    for folder in folders:
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
        assert not {"patches", "labels", "replicas", "components"} & kustomization.keys()
        for entry in kustomization.get("resources", []):
            assert (folder / entry).is_file(), f"{folder}: {entry} (directories go in bases:)"


def test_an_operator_overlay_sets_image_and_config(tmp_path: Path) -> None:
    """What the README tells an operator to write: an overlay of their own, on top of one of
    ours, that names their image and replaces the whole proxy.yaml."""
    config = (KUBERNETES / "base/proxy.yaml").read_text().replace(
        "https://api.openai.com/v1", "https://llm.example.internal/v1")
    (tmp_path / "proxy.yaml").write_text(config)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "bases": [os.path.relpath(KUBERNETES / "overlays" / "replicated", tmp_path)],
        "configMapGenerator": [{"name": "safety-proxy-config", "behavior": "replace",
                                "files": ["proxy.yaml"]}],
        "images": [{"name": "safety-proxy", "newName": "registry.example.com/safety-proxy",
                    "newTag": "9.9.9"}],
    }))
    done = subprocess.run([kubectl(), "kustomize", str(tmp_path)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    objects = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    assert proxy_container(objects)["image"] == "registry.example.com/safety-proxy:9.9.9"
    configmap = find(objects, "ConfigMap")
    assert configmap["metadata"]["name"] == "safety-proxy-config"  # still no hash suffix
    assert "https://llm.example.internal/v1" in configmap["data"]["proxy.yaml"]
