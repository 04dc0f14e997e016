"""The monitoring component's alerts and dashboard name only metrics the real services export.

Starts the whole stack (`gumloop-mcp up --json`, loopback, every port 0), drives one tool call, scrapes
the token service's, the proxy's and the façade's /metrics (each on its own `metrics` port, as the
PodMonitors do), and checks every metric name in
deploy/components/monitoring (PrometheusRule expressions, Grafana panel queries) against them.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx2
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .conftest import ROOT, Stack
from .test_system import session

MONITORING = ROOT / "deploy" / "components" / "monitoring"
# The project's metric prefixes (services/*/metrics.py, gumloop_mcp.runtime._metrics: gRPC metrics by
# the go-grpc-prometheus names).
OURS = re.compile(r"^(gmcp|grpc)_")
# Series a family of each type exposes, by suffix.
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum", ""),
    "gauge": ("",),
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^{}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


def metric_names(expr: str) -> set[str]:
    """The project's metric names in a PromQL expression, parsed loosely: string literals, label
    matchers and grouping clauses (whose words are label names) are dropped first."""
    bare = _GROUPING.sub(" ", _MATCHERS.sub(" ", _STRING.sub('""', expr)))
    return {word for word in _IDENTIFIER.findall(bare) if OURS.match(word)}


def matcher_labels(expr: str) -> dict[str, set[str]]:
    """metric name -> the label names its selectors match on."""
    found: dict[str, set[str]] = {}
    for match in _SELECTOR.finditer(expr):
        if OURS.match(match.group(1)):
            found.setdefault(match.group(1), set()).update(_MATCHER_LABEL.findall(match.group(2)))
    return {k: v for k, v in found.items() if OURS.match(k)}


def monitoring_queries() -> dict[str, str]:
    """where -> PromQL, for every alert and recording rule and every dashboard panel target."""
    queries: dict[str, str] = {}
    rules = yaml.safe_load((MONITORING / "rules.yaml").read_text())
    for group in rules["spec"]["groups"]:
        for rule in group["rules"]:
            queries[f"rule {rule.get('alert') or rule.get('record')}"] = str(rule["expr"])
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queries[f"panel {panel['title']!r} {target['refId']}"] = str(target["expr"])
    return queries


def exported(text: str) -> tuple[set[str], dict[str, set[str]]]:
    """Series names a /metrics page can have (a family without samples yet still counts, by its
    type's suffixes) and the label names seen per series name."""
    names: set[str] = set()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        for sample in family.samples:
            names.add(sample.name)
            labels.setdefault(sample.name, set()).update(sample.labels)
    return names, labels


async def _scrape(stack: Stack) -> dict[str, str]:
    """Drive one tool call, then read each service's /metrics."""
    async with session(stack.ready["mcp_url"]) as client:
        result = await client.call_tool("list_all_gumloop_teams", {})
        assert not result.is_error, result.content
    urls = {
        "tokens": f"http://127.0.0.1:{stack.ports['tokens']['metrics']}/metrics",
        "proxy": f"http://127.0.0.1:{stack.ports['proxy']['metrics']}/metrics",
        "facade": f"http://127.0.0.1:{stack.ports['facade']['metrics']}/metrics",
        "facade (admin port)": f"{stack.admin}/metrics",  # kept there too
    }
    pages: dict[str, str] = {}
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        for service, url in urls.items():
            resp = await http.get(url)
            assert resp.status_code == 200, (service, resp.status_code)
            pages[service] = resp.text
    return pages


def test_the_loose_promql_parser_finds_metrics_and_not_labels() -> None:
    """grpc_method/grpc_code are labels: only the selector's metric name counts."""
    expr = (
        'sum by (grpc_code) (rate(grpc_server_handled_total{grpc_method=~"Watch.*", '
        'grpc_code!="OK"}[5m])) / histogram_quantile(0.9, sum by (le) (rate(gmcp_x_bucket[5m])))'
    )
    assert metric_names(expr) == {"grpc_server_handled_total", "gmcp_x_bucket"}
    assert matcher_labels(expr) == {"grpc_server_handled_total": {"grpc_method", "grpc_code"}}


def test_every_metric_the_alerts_and_dashboard_use_is_exported_by_the_real_services(stack: Stack) -> None:
    """Every gmcp_/grpc_ series named by a rule or panel is on some service's /metrics page, and
    every label a selector matches on is a label of that series (where it has samples)."""
    pages = asyncio.run(_scrape(stack))
    names: set[str] = set()
    labels: dict[str, set[str]] = {}
    for text in pages.values():
        page_names, page_labels = exported(text)
        names |= page_names
        for series, found in page_labels.items():
            labels.setdefault(series, set()).update(found)
    queries = monitoring_queries()
    referenced = {where: metric_names(expr) for where, expr in queries.items()}
    used = set().union(*referenced.values())
    # each service's own metrics are referenced (the check has something to bite on)
    assert {
        "gmcp_facade_tool_call_seconds_count",
        "gmcp_proxy_upstream_requests_total",
        "gmcp_tokens_revocation_watchers",
        "grpc_server_handled_total",
        "grpc_client_handled_total",
    } <= used
    missing = {where: sorted(found - names) for where, found in referenced.items() if found - names}
    assert missing == {}, f"not exported by any service: {missing}"
    wrong_labels: dict[str, Any] = {}
    for where, expr in queries.items():
        for series, matched in matcher_labels(expr).items():
            if series in labels and matched - labels[series]:
                wrong_labels[where] = (series, sorted(matched - labels[series]))
    assert wrong_labels == {}
    # the tool call really went through every hop
    assert "gmcp_facade_tool_call_seconds_count" in labels
    assert "gmcp_proxy_upstream_requests_total" in labels
    assert "gmcp_tokens_resolve_total" in labels
    # the gRPC metrics carry the labels stock gRPC dashboards group by, on both ends of a call
    for series in ("grpc_server_handled_total", "grpc_client_handled_total"):
        assert {"grpc_type", "grpc_service", "grpc_method", "grpc_code"} <= labels[series], series
    assert "gmcp_facade_tool_call_seconds_count" in pages["facade"]
    for service in ("tokens", "proxy", "facade"):
        assert "process_resident_memory_bytes" in pages[service] and "process_open_fds" in pages[service]
