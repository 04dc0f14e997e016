"""Each kustomize component renders on top of the dev and prod overlays, its core objects still validate
against the pinned Kubernetes schemas, and it keeps what it promises (deploy/README.md)."""

from __future__ import annotations

import json
import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .components import COMPONENTS, render_with
from .conftest import DEPLOY, OVERLAYS
from .netpol import NAMESPACE_LABELS, Pod, Policies
from .test_manifests import KUBERNETES_VERSION, MONITORING_NAMESPACE, _pods

COMPONENT_NAMES = sorted(p.name for p in COMPONENTS.iterdir() if (p / "kustomization.yaml").exists())
# Kinds whose schemas are not Kubernetes' own: validated against their CRDs (test_crds.py).
CUSTOM_GROUPS = ("monitoring.coreos.com/", "gateway.networking.k8s.io/", "external-secrets.io/")


@pytest.fixture(scope="module")
def with_component(kubectl: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(overlay, component) -> the rendered objects of that overlay with that component on."""
    return {
        (overlay, name): render_with(kubectl, OVERLAYS[overlay], [name])
        for overlay in ("dev", "prod")
        for name in COMPONENT_NAMES
    }


def test_deploy_has_the_documented_components():
    """Every directory under deploy/components is a kustomize Component, and the README explains
    switching each one on."""
    assert {"monitoring", "gateway-api", "external-secrets"} <= set(COMPONENT_NAMES)
    readme = (DEPLOY / "README.md").read_text()
    for name in COMPONENT_NAMES:
        kustomization = yaml.safe_load((COMPONENTS / name / "kustomization.yaml").read_text())
        assert kustomization["kind"] == "Component", name
        assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1alpha1", name
        assert f"../../components/{name}" in readme, f"deploy/README.md does not show how to switch on {name}"


@pytest.mark.parametrize("overlay", ["dev", "prod"])
@pytest.mark.parametrize("component", COMPONENT_NAMES)
def test_each_component_renders_onto_each_overlay_and_core_objects_still_validate(
    with_component, overlay, component
):
    """Everything lands in the gumloop-mcp namespace; objects of Kubernetes' own kinds are valid
    (strict) for the pinned version."""
    objects = with_component[(overlay, component)]
    assert all(o["metadata"].get("namespace") == "gumloop-mcp" for o in objects if o["kind"] != "Namespace")
    errors = []
    for obj in objects:
        if obj["apiVersion"].startswith(CUSTOM_GROUPS):
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {err.message} at {list(err.path)}")
    assert errors == []


def test_all_components_render_together(kubectl):
    """Components do not collide with each other (names, patches)."""
    for overlay in ("dev", "prod"):
        objects = render_with(kubectl, OVERLAYS[overlay], COMPONENT_NAMES)
        keys = [(o["kind"], o["metadata"]["name"]) for o in objects]
        assert len(keys) == len(set(keys)), overlay


# ---- monitoring ---------------------------------------------------------------------------------


def _of(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _pod_labels(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: o["spec"]["template"][
            "metadata"
        ]["labels"]
        for o in objects
        if o["kind"] in {"Deployment", "StatefulSet"}
    }


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_monitors_scrape_the_named_metrics_ports_of_every_service(with_component, overlay):
    """PodMonitors select exactly the token service's, the proxy's and the façade's pods on their `metrics`
    port (9091, 9092, 9093); nothing scrapes the façade's admin port."""
    objects = with_component[(overlay, "monitoring")]
    labels = _pod_labels(objects)
    ports = {
        w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: {
            p["name"]: p["containerPort"]
            for c in w["spec"]["template"]["spec"]["containers"]
            for p in c["ports"]
        }
        for w in objects
        if w["kind"] == "Deployment"
    }
    scraped: dict[str, int] = {}
    for monitor in _of(objects, "PodMonitor").values():
        selector = monitor["spec"]["selector"]["matchLabels"]
        (component,) = [c for c, pod in labels.items() if selector.items() <= pod.items()]
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert endpoint["path"] == "/metrics" and endpoint["port"] == "metrics"
        scraped[component] = ports[component][endpoint["port"]]
    assert _of(objects, "ServiceMonitor") == {}
    assert scraped == {"tokens": 9091, "proxy": 9092, "facade": 9093}


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_monitoring_namespace_reaches_exactly_the_scraped_ports(with_component, overlay):
    """With the component on, Prometheus in a labelled namespace reaches tokens :9091, proxy :9092 and
    façade :9093 and nothing else (not the façade's admin port); an unlabelled namespace reaches none."""
    objects = with_component[(overlay, "monitoring")]
    policies = Policies(objects)
    pods = _pods(objects)
    prometheus = Pod(
        "prometheus", {"app.kubernetes.io/name": "prometheus"}, MONITORING_NAMESPACE, frozenset()
    )
    stranger = Pod(
        "x", {"app.kubernetes.io/name": "prometheus"}, {"kubernetes.io/metadata.name": "o"}, frozenset()
    )
    candidates = (8080, 8081, 8090, 9091, 9092, 9093, 50051, 50052, 6379)
    ours = {name: pod for name, pod in pods.items() if pod.namespace_labels == NAMESPACE_LABELS and pod.ports}
    reached = {
        (name, port)
        for name, pod in ours.items()
        for port in candidates
        if policies.connects(prometheus, pod, port)
    }
    assert reached == {("tokens", 9091), ("proxy", 9092), ("facade", 9093)}
    assert not any(policies.connects(stranger, pod, port) for pod in ours.values() for port in candidates)
    # the façade's public port and the management clients' access are unchanged
    client = Pod("admin-job", {"gumloop-mcp.io/management-client": "true"}, NAMESPACE_LABELS, frozenset())
    assert policies.ingress_from_pod(pods["facade"], client, 8081)
    assert not policies.ingress_from_pod(pods["facade"], pods["stranger"], 8081)


def test_the_dashboard_configmap_carries_the_grafana_label_and_the_panels(with_component):
    """The dashboard is a ConfigMap Grafana's sidecar picks up, with the promised panels."""
    objects = with_component[("prod", "monitoring")]
    (config,) = [
        c for c in _of(objects, "ConfigMap").values() if "grafana_dashboard" in c["metadata"]["labels"]
    ]
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    (body,) = config["data"].values()
    dashboard = json.loads(body)
    titles = {p["title"] for p in dashboard["panels"] if p["type"] != "row"}
    assert {
        "Tool calls by outcome",
        "Tool call latency",
        "Upstream requests by operation",
        "429s and retries",
        "Sessions started and open streams",
        "Revocation feed health",
    } <= titles
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["expr"].count("(") == target["expr"].count(")"), panel["title"]


def test_every_alert_has_operator_text_and_a_severity():
    """summary, description and runbook on every alert; severity warning or critical."""
    rules = yaml.safe_load((COMPONENTS / "monitoring" / "rules.yaml").read_text())
    alerts = [r for g in rules["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert {
        "GumloopRateLimiting",
        "GumloopUpstreamErrors",
        "GumloopMcpToolCallErrors",
        "GumloopMcpToolCallsSlow",
        "GumloopMcpRevocationWatchDown",
        "GumloopMcpTokenStoreErrors",
    } <= {a["alert"] for a in alerts}
    for alert in alerts:
        assert {"summary", "description", "runbook"} <= set(alert["annotations"]), alert["alert"]
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert re.fullmatch(r"\d+m", alert["for"]), alert["alert"]
        assert alert["expr"].count("(") == alert["expr"].count(")"), alert["alert"]


# ---- ingress controller namespace and the Gateway API -------------------------------------------


def _public_port_sources(objects: list[dict[str, Any]]) -> set[str]:
    """Namespaces (by name) whose pods may open the façade's public port."""
    policies = Policies(objects)
    pods = _pods(objects)
    candidates = {"ingress-nginx", "traefik", "envoy-gateway-system", "gateway-system", "gumloop-mcp"}
    return {
        namespace
        for namespace in candidates
        if policies.ingress_from_pod(
            pods["facade"],
            Pod("gw", {"app": "gw"}, {"kubernetes.io/metadata.name": namespace}, frozenset()),
            8080,
        )
    }


def test_the_ingress_controller_namespace_is_a_setting_that_never_reaches_the_cluster(rendered):
    """The base default (ingress-nginx) lands in the façade policy; the setting itself is local-config
    (not applied) and no placeholder is left anywhere."""
    for overlay in ("base", "dev", "prod"):
        objects = rendered[overlay]
        assert _public_port_sources(objects) == {"ingress-nginx"}, overlay
        assert "gumloop-mcp-ingress-controller" not in {o["metadata"]["name"] for o in objects}
        assert "INGRESS_CONTROLLER_NAMESPACE" not in yaml.safe_dump_all(objects)


def _readme_block(marker: str) -> str:
    readme = (DEPLOY / "README.md").read_text()
    found = re.search(re.escape(marker) + r".*?\n```yaml\n(.*?)```", readme, flags=re.DOTALL)
    assert found, f"deploy/README.md has no yaml block after {marker!r}"
    return found.group(1)


def test_the_documented_overlay_moves_the_public_port_to_another_controller_namespace(kubectl):
    """deploy/README.md's snippet (patch the setting, repeat the replacement), rendered as written on
    top of prod: only that namespace reaches :8080 afterwards."""
    snippet = yaml.safe_load(
        _readme_block("<!-- tested: tests/deploy/test_components.py (ingress controller")
    )
    assert snippet["resources"] == ["../gumloop-mcp/deploy/overlays/prod"]
    extra = yaml.safe_dump({k: v for k, v in snippet.items() if k in {"patches", "replacements"}})
    objects = render_with(kubectl, OVERLAYS["prod"], [], extra)
    assert _public_port_sources(objects) == {"traefik"}
    with_gateway = render_with(kubectl, OVERLAYS["prod"], ["gateway-api"], extra)
    assert _public_port_sources(with_gateway) == {"traefik"}


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_gateway_api_component_routes_only_the_public_port_and_drops_the_ingress(with_component, overlay):
    """One HTTPRoute to gumloop-facade:8080 (never the admin Service), hour-long timeouts, no Ingress."""
    objects = with_component[(overlay, "gateway-api")]
    assert not _of(objects, "Ingress")
    (route,) = _of(objects, "HTTPRoute").values()
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    services = _of(objects, "Service")
    backends = [b for rule in route["spec"]["rules"] for b in rule["backendRefs"]]
    assert [(b["name"], b["port"]) for b in backends] == [("gumloop-facade", 8080)]
    assert [p["port"] for p in services["gumloop-facade"]["spec"]["ports"]] == [8080]
    for rule in route["spec"]["rules"]:
        assert rule["timeouts"] == {"request": "3600s", "backendRequest": "3600s"}
    assert route["spec"]["parentRefs"] and route["spec"]["hostnames"]


# ---- external secrets ---------------------------------------------------------------------------


def _readme_secret_keys() -> dict[str, set[str]]:
    """Secret name -> keys, from deploy/README.md's `kubectl create secret generic` commands."""
    readme = (DEPLOY / "README.md").read_text().replace("\\\n", " ")
    found: dict[str, set[str]] = {}
    for line in readme.splitlines():
        command = re.search(r"create secret generic (\S+)(.*)", line)
        if command:
            found[command.group(1)] = set(re.findall(r"--from-literal=(\w+)=", command.group(2)))
    return found


def test_external_secrets_make_exactly_the_secrets_prod_reads(with_component):
    """The ExternalSecrets target the Secret names and keys that the prod Deployments reference and
    that deploy/README.md tells operators to create by hand."""
    objects = with_component[("prod", "external-secrets")]
    made = {
        e["spec"]["target"]["name"]: {d["secretKey"] for d in e["spec"]["data"]}
        for e in _of(objects, "ExternalSecret").values()
    }
    read: dict[str, set[str]] = {}
    for workload in objects:
        if workload["kind"] != "Deployment":
            continue
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    read.setdefault(ref["name"], set()).add(ref["key"])
    assert made == read
    assert made == _readme_secret_keys()
    for external in _of(objects, "ExternalSecret").values():
        assert external["apiVersion"] == "external-secrets.io/v1"
        assert external["spec"]["target"]["deletionPolicy"] == "Retain"
        remote = [d["remoteRef"] for d in external["spec"]["data"]]
        assert all(r["key"] and r["property"] for r in remote)
