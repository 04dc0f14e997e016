"""Every overlay renders, validates against pinned Kubernetes schemas, and keeps the deployment promises."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import tomllib
from typing import Any

import kubernetes_validate
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from gumloop_mcp.runtime import _grpc_client, _grpc_server

from .conftest import DEPLOY, REPO
from .netpol import NAMESPACE_LABELS, Pod, Policies

# The newest schemas the installed kubernetes-validate ships (pyproject.toml pins it to this minor).
KUBERNETES_VERSION = "1.37.0"
OVERLAY_NAMES = ["dev", "prod"]
OUR_SERVICES = {"tokens", "proxy", "facade", "emulator"}
GRPC_PORTS = {"tokens": 50051, "proxy": 50052}
METRICS_PORTS = {"tokens": 9091, "proxy": 9092, "facade": 9093}
MONITORING_NAMESPACE = {"kubernetes.io/metadata.name": "monitoring", "gumloop-mcp.io/monitoring": "true"}
SETTINGS = {
    "GMCP_TOKENS_": ("services.tokens.settings", "TokenSettings"),
    "GMCP_PROXY_": ("services.gumloop_proxy.settings", "ProxySettings"),
    "GMCP_FACADE_": ("services.mcp_facade.settings", "FacadeSettings"),
    "GMCP_EMULATOR_": ("gumloop_mcp.emulator.settings", "EmulatorSettings"),
}
# Read with os.environ rather than a settings class: the admin CLI's caller token
# (gumloop_mcp.cli._cli_caller_token, GMCP_CLI_<SERVER>_CALLER_TOKEN; it only calls the token service).
NON_SETTINGS_NAMES = {"GMCP_CLI_TOKENS_CALLER_TOKEN"}
PUBLIC_ADDRESS = "104.18.32.7"  # evaluated in memory only: no traffic is sent anywhere


def _workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in {"Deployment", "StatefulSet"}]


def _component(workload: dict[str, Any]) -> str:
    return str(workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"])


def _by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(workload["spec"]["template"]["spec"]["containers"])


def _pods(objects: list[dict[str, Any]]) -> dict[str, Pod]:
    pods = {
        _component(w): Pod(
            _component(w),
            dict(w["spec"]["template"]["metadata"]["labels"]),
            NAMESPACE_LABELS,
            frozenset(p["containerPort"] for c in _containers(w) for p in c.get("ports", [])),
        )
        for w in _workloads(objects)
    }
    pods["ingress-nginx"] = Pod(
        "ingress-nginx",
        {"app.kubernetes.io/name": "ingress-nginx"},
        {"kubernetes.io/metadata.name": "ingress-nginx"},
        frozenset(),
    )
    pods["stranger"] = Pod("stranger", {"app": "other"}, NAMESPACE_LABELS, frozenset())
    pods["kube-dns"] = Pod(
        "kube-dns", {"k8s-app": "kube-dns"}, {"kubernetes.io/metadata.name": "kube-system"}, frozenset({53})
    )
    return pods


@pytest.mark.parametrize("overlay", ["base", *OVERLAY_NAMES])
def test_every_overlay_renders_with_kubectl_kustomize(rendered, overlay):
    """`kubectl kustomize` renders the overlay into namespaced objects."""
    kinds = {o["kind"] for o in rendered[overlay]}
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "Ingress"} <= kinds
    assert all(
        o["metadata"].get("namespace") == "gumloop-mcp" for o in rendered[overlay] if o["kind"] != "Namespace"
    )


@pytest.mark.parametrize("overlay", ["base", *OVERLAY_NAMES])
def test_every_rendered_object_validates_against_the_pinned_kubernetes_schemas(rendered, overlay):
    """Each object is valid (strict: no unknown fields) for the pinned Kubernetes version."""
    errors = []
    for obj in rendered[overlay]:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {err.message} at {list(err.path)}")
    assert errors == []


def _minor(version: str) -> tuple[int, int]:
    major, minor, *_ = version.split(".")
    return int(major), int(minor)


def test_the_pinned_kubernetes_schemas_are_current_and_pinned_in_pyproject_and_the_docs():
    """The schema version is one of the three newest minors the installed kubernetes-validate ships
    (Kubernetes supports the three newest minor releases), pyproject.toml pins kubernetes-validate to
    that minor, and deploy/README.md names the same version."""
    shipped = sorted({_minor(v) for v in kubernetes_validate.utils.all_versions()})
    assert KUBERNETES_VERSION in kubernetes_validate.utils.all_versions()
    major, minor = _minor(KUBERNETES_VERSION)
    assert (major, minor) in shipped[-3:], f"{KUBERNETES_VERSION} is older than the supported releases"
    with (REPO / "pyproject.toml").open("rb") as f:
        dev = tomllib.load(f)["project"]["optional-dependencies"]["dev"]
    (pin,) = [Requirement(r) for r in dev if Requirement(r).name == "kubernetes-validate"]
    assert pin.specifier == SpecifierSet(f">={major}.{minor},<{major}.{minor + 1}")
    assert pin.specifier.contains(importlib.metadata.version("kubernetes-validate"))
    readme = (DEPLOY / "README.md").read_text()
    assert re.findall(r"Kubernetes (\d+\.\d+) JSON schemas", readme) == [f"{major}.{minor}"]


def _selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (matchLabels and matchExpressions); a missing selector matches
    no pod here, as for topologySpreadConstraints and pod (anti-)affinity terms."""
    if selector is None:
        return False
    assert set(selector) <= {"matchLabels", "matchExpressions"}, f"unsupported selector {selector}"
    if not all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def _spread_selectors(workload: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    """(where, labelSelector) of every topologySpreadConstraint and podAntiAffinity term."""
    pod = workload["spec"]["template"]["spec"]
    out = [
        (f"topologySpreadConstraints[{c['topologyKey']}]", c.get("labelSelector"))
        for c in pod.get("topologySpreadConstraints", [])
    ]
    anti = pod.get("affinity", {}).get("podAntiAffinity", {})
    out += [
        (f"podAntiAffinity required[{t['topologyKey']}]", t.get("labelSelector"))
        for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
    ]
    out += [
        (
            f"podAntiAffinity preferred[{t['podAffinityTerm']['topologyKey']}]",
            t["podAffinityTerm"].get("labelSelector"),
        )
        for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])
    ]
    return out


@pytest.mark.parametrize("overlay", ["base", *OVERLAY_NAMES])
def test_spread_and_anti_affinity_selectors_match_their_own_pods(rendered, overlay):
    """A spread constraint or anti-affinity term whose selector misses the workload's own pods counts
    nothing and spreads nothing: each one selects the pod template's real labels."""
    for workload in _workloads(rendered[overlay]):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        for where, selector in _spread_selectors(workload):
            assert _selector_matches(selector, labels), (
                f"{workload['metadata']['name']}: {where} selects {selector}, its pods carry {labels}"
            )


def test_prod_spreads_every_deployment_over_nodes_and_zones(rendered):
    """prod: each Deployment has a hostname and a zone spread constraint (checked above to match)."""
    for name, deployment in _by_kind(rendered["prod"], "Deployment").items():
        keys = {where for where, _ in _spread_selectors(deployment)}
        assert {
            "topologySpreadConstraints[kubernetes.io/hostname]",
            "topologySpreadConstraints[topology.kubernetes.io/zone]",
        } <= keys, name


@pytest.mark.parametrize("overlay", ["base", *OVERLAY_NAMES])
def test_no_autoscaled_workload_sets_a_replica_count(rendered, overlay):
    """A workload an HPA targets has no spec.replicas: every `kubectl apply` would reset the HPA's count."""
    workloads = {
        (o["apiVersion"], o["kind"], o["metadata"]["name"]): o for o in _workloads(rendered[overlay])
    }
    for hpa in _by_kind(rendered[overlay], "HorizontalPodAutoscaler").values():
        ref = hpa["spec"]["scaleTargetRef"]
        target = workloads.get((ref["apiVersion"], ref["kind"], ref["name"]))
        assert target is not None, f"HPA {hpa['metadata']['name']} targets nothing rendered: {ref}"
        assert "replicas" not in target["spec"], (
            f"{ref['kind']}/{ref['name']} sets replicas: {target['spec']['replicas']} under an HPA"
        )


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_every_container_has_startup_readiness_and_liveness_probes_of_the_right_kind(rendered, overlay):
    """gRPC services use native grpc probes on their port; HTTP services use httpGet."""
    for workload in _workloads(rendered[overlay]):
        component = _component(workload)
        for container in _containers(workload):
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in container, f"{component}: no {probe}"
            if component in GRPC_PORTS:
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    assert container[probe]["grpc"]["port"] == GRPC_PORTS[component]
            if component == "facade":
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_every_workload_is_locked_down(rendered, overlay):
    """Non-root, read-only root, no escalation, no capabilities, RuntimeDefault seccomp, no SA token."""
    workloads = _workloads(rendered[overlay])
    assert workloads
    for workload in workloads:
        component = _component(workload)
        pod = workload["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, component
        assert pod["securityContext"]["runAsNonRoot"] is True, component
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, component
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in _containers(workload):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            if component in OUR_SERVICES:
                assert sc["runAsUser"] == 10001
                assert container["args"] == [component], "one image, one subcommand per service"
            else:
                assert sc["runAsUser"] != 0
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes, f"{component}: /tmp is not an emptyDir"
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{component}: {kind}"


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_grpc_services_are_headless_and_clients_balance_per_call_with_recycled_connections(rendered, overlay):
    """Headless Services, dns:/// FQDN targets on the right ports, round_robin + keepalive + max age."""
    services = _by_kind(rendered[overlay], "Service")
    (config,) = [
        c for c in _by_kind(rendered[overlay], "ConfigMap").values() if "GMCP_FACADE_PORT" in c["data"]
    ]
    for name, port in (("gumloop-tokens", 50051), ("gumloop-proxy", 50052)):
        assert services[name]["spec"]["clusterIP"] == "None"
        assert [p["port"] for p in services[name]["spec"]["ports"]] == [port]
    target = "dns:///gumloop-{}.gumloop-mcp.svc.cluster.local:{}"
    assert config["data"]["GMCP_FACADE_TOKENS_TARGET"] == target.format("tokens", 50051)
    assert config["data"]["GMCP_FACADE_PROXY_TARGET"] == target.format("proxy", 50052)
    assert config["data"]["GMCP_TOKENS_PROXY_TARGET"] == target.format("proxy", 50052)
    server = dict(_grpc_server.SERVER_OPTIONS)
    assert 0 < server["grpc.max_connection_age_ms"] <= 10 * 60 * 1000
    client = dict(_grpc_client.CHANNEL_OPTIONS)
    assert "round_robin" in client["grpc.service_config"]
    assert client["grpc.keepalive_time_ms"] > 0


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_only_the_public_port_is_behind_a_streaming_friendly_tls_ingress(rendered, overlay):
    """Ingress: TLS, no buffering, hour-long timeouts, façade :8080 only; admin on a ClusterIP Service."""
    ingresses = list(_by_kind(rendered[overlay], "Ingress").values())
    assert len(ingresses) == 1
    ingress = ingresses[0]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    hosts = {h for rule in ingress["spec"]["rules"] for h in [rule["host"]]}
    assert hosts <= {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
    backends = [p["backend"]["service"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    services = _by_kind(rendered[overlay], "Service")
    for backend in backends:
        service = services[backend["name"]]
        ports = [p for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"]]
        assert [p["port"] for p in ports] == [8080]
        assert all(p["port"] != 8081 for p in service["spec"]["ports"])
    admin = services["gumloop-facade-admin"]
    assert admin["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert [p["port"] for p in admin["spec"]["ports"]] == [8081]
    assert all(b["name"] != "gumloop-facade-admin" for b in backends)


def _expected_flows(overlay: str) -> set[tuple[str, str, int]]:
    flows = {
        ("ingress-nginx", "facade", 8080),
        ("facade", "tokens", 50051),
        ("facade", "proxy", 50052),
        ("tokens", "proxy", 50052),
    }
    if overlay == "dev":
        flows |= {
            ("tokens", "redis", 6379),
            ("proxy", "redis", 6379),
            ("facade", "redis", 6379),
            ("proxy", "emulator", 8090),
        }
    return flows


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_network_policies_allow_exactly_the_designed_pod_to_pod_flows(rendered, overlay):
    """Default deny; façade -> tokens/proxy, tokens -> proxy, Redis only from tokens, proxy and façade."""
    policies = Policies(rendered[overlay])
    deny = [p for p in policies.items if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")]
    assert any(
        set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} and "egress" not in p["spec"] for p in deny
    )
    pods = _pods(rendered[overlay])
    targets = [p for p in pods.values() if p.namespace_labels == NAMESPACE_LABELS and p.ports]
    allowed = {
        (src.name, dst.name, port)
        for src in pods.values()
        for dst in targets
        for port in dst.ports
        if src is not dst and policies.connects(src, dst, port)
    }
    # the management port is reachable only from pods labelled as management clients
    allowed = {flow for flow in allowed if flow[2] != 8081}
    assert allowed == _expected_flows(overlay)
    client = Pod("admin-job", {"gumloop-mcp.io/management-client": "true"}, NAMESPACE_LABELS, frozenset())
    assert policies.ingress_from_pod(pods["facade"], client, 8081)
    assert not policies.ingress_from_pod(pods["facade"], pods["stranger"], 8081)
    assert not policies.ingress_from_pod(pods["facade"], client, 8080)


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_metrics_ports_admit_only_labelled_monitoring_namespaces_and_grpc_stays_facade_only(
    rendered, overlay
):
    """Prometheus (a labelled monitoring namespace) scrapes tokens, proxy and façade on their metrics port
    and nothing else (not the façade's admin port); no other peer reaches a metrics port; gRPC is still
    only façade (and tokens -> proxy)."""
    policies = Policies(rendered[overlay])
    pods = _pods(rendered[overlay])
    prometheus = Pod(
        "prometheus", {"app.kubernetes.io/name": "prometheus"}, MONITORING_NAMESPACE, frozenset()
    )
    unlabelled = Pod(
        "other-team", {"app.kubernetes.io/name": "prometheus"}, {"kubernetes.io/metadata.name": "other"},
        frozenset(),
    )  # fmt: skip
    client = Pod("admin-job", {"gumloop-mcp.io/management-client": "true"}, NAMESPACE_LABELS, frozenset())
    everyone = [*pods.values(), prometheus, unlabelled, client]
    for component, port in METRICS_PORTS.items():
        assert port in pods[component].ports
        assert policies.connects(prometheus, pods[component], port), component
        others = [
            p.name for p in everyone if p.name != "prometheus" and policies.connects(p, pods[component], port)
        ]
        assert others == [], f"{component} :{port} is open to {others}"
        for other in (*GRPC_PORTS.values(), *METRICS_PORTS.values(), 8080, 8081, 8090, 6379):
            if other != port:
                assert not policies.connects(prometheus, pods[component], other), (component, other)
    for name in ("facade", "emulator", "redis"):
        if name in pods:
            assert not any(policies.connects(prometheus, pods[name], p) for p in (8080, 8081, 8090, 6379))
    grpc_clients = {
        component: {
            p.name
            for p in everyone
            if p is not pods[component] and policies.connects(p, pods[component], port)
        }
        for component, port in GRPC_PORTS.items()
    }
    assert grpc_clients == {"tokens": {"facade"}, "proxy": {"facade", "tokens"}}


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_the_metrics_port_is_named_configured_and_annotated_for_scraping(rendered, overlay):
    """A named `metrics` containerPort equal to GMCP_<SVC>_METRICS_PORT and the prometheus.io annotations."""
    config = next(
        o["data"] for o in rendered[overlay] if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(
            "gumloop-mcp-config")
    )  # fmt: skip
    prefixes = {"tokens": "GMCP_TOKENS_", "proxy": "GMCP_PROXY_", "facade": "GMCP_FACADE_"}
    serving = {
        "tokens": {"grpc": GRPC_PORTS["tokens"]},
        "proxy": {"grpc": GRPC_PORTS["proxy"]},
        "facade": {"http": 8080, "admin": 8081},
    }
    workloads = {_component(w): w for w in _workloads(rendered[overlay])}
    for component, port in METRICS_PORTS.items():
        workload = workloads[component]
        (container,) = _containers(workload)
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert named == {**serving[component], "metrics": port}
        assert config[f"{prefixes[component]}METRICS_PORT"] == str(port)
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }
        probes = [container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")]
        if component == "facade":  # never on the metrics port
            assert all(probe["httpGet"]["port"] == "admin" for probe in probes)
        else:
            assert all(probe["grpc"]["port"] == GRPC_PORTS[component] for probe in probes)


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_only_the_proxy_reaches_the_internet_and_everyone_reaches_dns(rendered, overlay):
    """Internet :443 only from the proxy (plus the external Redis ports in prod); DNS for all."""
    policies = Policies(rendered[overlay])
    pods = _pods(rendered[overlay])
    ours = [p for p in pods.values() if p.namespace_labels == NAMESPACE_LABELS and p.name != "stranger"]
    for pod in ours:
        internet_ports = {
            port
            for port in (80, 443, 6379, 6380, 8080)
            if policies.egress_to_address(pod, PUBLIC_ADDRESS, port)
        }
        expected: set[int] = {443} if pod.name == "proxy" else set()
        if overlay == "prod" and pod.name in {"tokens", "proxy", "facade"}:
            expected |= {6379, 6380}
        assert internet_ports == expected, pod.name
        assert not policies.egress_to_address(pod, "10.0.0.1", 443), f"{pod.name} reaches private addresses"
        assert policies.egress_to_pod(pod, pods["kube-dns"], 53, "UDP"), f"{pod.name} has no DNS"
        assert policies.egress_to_pod(pod, pods["kube-dns"], 53, "TCP"), f"{pod.name} has no DNS over TCP"


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_configuration_uses_the_variable_names_the_services_read(rendered, overlay):
    """Every GMCP_* key in ConfigMaps and env is a field of that service's settings class."""
    names: set[str] = set()
    for config in _by_kind(rendered[overlay], "ConfigMap").values():
        names |= set(config["data"])
    for workload in _workloads(rendered[overlay]):
        for container in _containers(workload):
            names |= {e["name"] for e in container.get("env", [])}
    checked: set[str] = set()
    for name in sorted(n for n in names if n.startswith("GMCP_") and n not in NON_SETTINGS_NAMES):
        prefix = next((p for p in SETTINGS if name.startswith(p)), None)
        assert prefix is not None, f"{name}: no settings class reads the {name.split('_')[1]} prefix"
        module, cls = SETTINGS[prefix]
        settings = getattr(importlib.import_module(module), cls)
        assert settings.model_config["env_prefix"] == prefix, f"{cls} reads another prefix"
        assert name.removeprefix(prefix).lower() in settings.model_fields, f"{name} is read by no setting"
        checked.add(prefix)
    assert {"GMCP_TOKENS_", "GMCP_PROXY_", "GMCP_FACADE_"} <= checked
    if overlay == "dev":  # the emulator's Deployment
        assert "GMCP_EMULATOR_" in checked
    for secret_ref in ("GMCP_TOKENS_PEPPER", "GMCP_PROXY_ENCRYPTION_KEY", "GMCP_FACADE_SESSION_SECRET"):
        assert secret_ref in names


def test_dev_runs_one_replica_each_with_a_persistent_aof_redis_and_the_emulator(rendered):
    """dev: one replica each, Redis StatefulSet with appendonly yes on a PVC, the emulator, Redis stores."""
    objects = rendered["dev"]
    assert all(w["spec"]["replicas"] == 1 for w in _workloads(objects))
    redis = _by_kind(objects, "StatefulSet")["gumloop-redis"]
    (container,) = _containers(redis)
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    data_dir = args[args.index("--dir") + 1]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    claims = {c["metadata"]["name"] for c in redis["spec"]["volumeClaimTemplates"]}
    assert mounts[data_dir] in claims
    assert "gumloop-emulator" in _by_kind(objects, "Deployment")
    (config,) = [c for c in _by_kind(objects, "ConfigMap").values() if "GMCP_FACADE_PORT" in c["data"]]
    data = config["data"]
    assert data["GMCP_TOKENS_STORE"] == data["GMCP_PROXY_STORE"] == data["GMCP_FACADE_STORE"] == "redis"


def test_dev_redis_header_names_exactly_the_pods_its_network_policy_admits(rendered):
    """The comment atop deploy/overlays/dev/redis.yaml says who reaches Redis: keep it true."""
    header = []
    for line in (DEPLOY / "overlays" / "dev" / "redis.yaml").read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("# "))
    found = re.search(r"Reachable only by ([^(.]+)", " ".join(header))
    assert found, "the header says who reaches Redis"
    named = {n.strip().replace("façade", "facade") for n in re.split(r",| and ", found.group(1)) if n.strip()}
    policies = Policies(rendered["dev"])
    pods = _pods(rendered["dev"])
    admitted = {
        name for name, pod in pods.items() if name != "redis" and policies.connects(pod, pods["redis"], 6379)
    }
    assert named == admitted


def test_prod_scales_out_with_autoscalers_disruption_budgets_and_external_redis(rendered):
    """prod: an HPA (min 3) and a PDB per Deployment, no emulator or Redis, Redis URL from a Secret."""
    objects = rendered["prod"]
    deployments = _by_kind(objects, "Deployment")
    assert set(deployments) == {"gumloop-tokens", "gumloop-proxy", "gumloop-facade"}
    assert not _by_kind(objects, "StatefulSet")
    assert not [o for o in objects if o["kind"] == "Secret"], "prod generates no secrets"
    hpas = _by_kind(objects, "HorizontalPodAutoscaler")
    pdbs = _by_kind(objects, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        hpa = hpas[name]
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] >= 3
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = pdbs[name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        env = {e["name"]: e for c in _containers(deployment) for e in c.get("env", [])}
        for var in ("GMCP_TOKENS_REDIS_URL", "GMCP_PROXY_REDIS_URL", "GMCP_FACADE_REDIS_URL"):
            if var in env:
                assert env[var]["valueFrom"]["secretKeyRef"]["name"] == "gumloop-redis"


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of an env value against variables defined before it."""
    import re

    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def _container_env(workload: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    """The container's env as the kubelet builds it (secretKeyRefs resolved from `secrets`)."""
    env: dict[str, str] = {}
    for entry in _containers(workload)[0].get("env", []):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            if ref["name"].startswith("gumloop-mcp-secrets"):
                assert ref["key"] in secrets, f"{entry['name']} reads the missing Secret key {ref['key']}"
                env[entry["name"]] = secrets[ref["key"]]
            continue
        env[entry["name"]] = _expand(str(entry.get("value", "")), env)
    return env


CALLER_KEYS = (
    "GMCP_FACADE_TOKENS_CALLER_TOKEN",
    "GMCP_FACADE_PROXY_CALLER_TOKEN",
    "GMCP_TOKENS_PROXY_CALLER_TOKEN",
    "GMCP_CLI_TOKENS_CALLER_TOKEN",
)


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_the_grpc_servers_accept_exactly_their_clients_caller_tokens(rendered, overlay):
    """The proxy accepts the façade's and the token service's tokens, the token service the façade's."""
    import base64

    from gumloop_mcp.runtime import CallerTokens

    generated = _by_kind(rendered[overlay], "Secret")
    found = next((s for name, s in generated.items() if name.startswith("gumloop-mcp-secrets")), None)
    if found is not None:  # dev: the generated demo values
        secrets = {k: base64.b64decode(v).decode() for k, v in found.get("data", {}).items()}
    else:  # prod: created by the operator with these keys (deploy/README.md)
        secrets = {k: f"operator-made-{k.lower()}-0123456789" for k in (*CALLER_KEYS, "GMCP_TOKENS_PEPPER")}
        secrets |= {"GMCP_PROXY_ENCRYPTION_KEY": "k", "GMCP_FACADE_SESSION_SECRET": "s"}
    assert set(CALLER_KEYS) <= set(secrets)
    assert len({secrets[k] for k in CALLER_KEYS}) == len(CALLER_KEYS), "each hop has its own token"
    workloads = {_component(w): w for w in _workloads(rendered[overlay])}
    proxy_env = _container_env(workloads["proxy"], secrets)
    tokens_env = _container_env(workloads["tokens"], secrets)
    facade_env = _container_env(workloads["facade"], secrets)
    proxy_callers = CallerTokens.parse(proxy_env["GMCP_PROXY_CALLER_TOKENS"])
    tokens_callers = CallerTokens.parse(tokens_env["GMCP_TOKENS_CALLER_TOKENS"])
    assert proxy_callers.identify(facade_env["GMCP_FACADE_PROXY_CALLER_TOKEN"]) == "facade"
    assert proxy_callers.identify(tokens_env["GMCP_TOKENS_PROXY_CALLER_TOKEN"]) == "tokens"
    assert tokens_callers.identify(facade_env["GMCP_FACADE_TOKENS_CALLER_TOKEN"]) == "facade"
    # The admin CLI run in the token service pod (kubectl exec) finds its token in that pod's env.
    assert tokens_callers.identify(tokens_env["GMCP_CLI_TOKENS_CALLER_TOKEN"]) == "cli"
    assert proxy_callers.names == ["facade", "tokens"] and tokens_callers.names == ["cli", "facade"]
    assert tokens_callers.identify(facade_env["GMCP_FACADE_PROXY_CALLER_TOKEN"]) is None
    for env in (proxy_env, tokens_env):
        assert not any("$(" in v for v in env.values()), "every $(VAR) resolves"


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get(
        "spec", spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    )
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_container_image_carries_an_explicit_tag_or_digest(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    """No container runs `:latest` by omission (the dev emulator once rendered as bare `gumloop-mcp`)."""
    images = {
        f"{obj['kind']}/{obj['metadata']['name']}/{c['name']}": c["image"]
        for obj in rendered[overlay]
        for c in _containers(obj)
    }
    assert images, overlay
    untagged = {
        where: image
        for where, image in images.items()
        if "@sha256:" not in image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"))
    }
    assert untagged == {}
    own = {
        image for image in images.values() if image.split("@")[0].rsplit(":", 1)[0].endswith("gumloop-mcp")
    }
    assert len(own) == 1, f"{overlay} runs several builds of the project's image: {own}"
