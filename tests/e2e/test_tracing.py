"""One tool call followed across every process: OpenTelemetry spans and correlated log lines.

Starts the whole stack (`gumloop-mcp up --json`) with `OTEL_EXPORTER_OTLP_ENDPOINT` pointed at a small
OTLP/HTTP receiver in this test (loopback, protobuf `ExportTraceServiceRequest`), drives MCP requests
with a chosen `X-Request-Id`, and checks that one trace id links the façade's, the token service's and
the proxy's spans (distinct `service.name`s) down to the upstream HTTP request, that no attribute
carries a secret, and that the same trace id / request id finds each process's log lines.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from gumloop_mcp.launcher import CALLER_TOKEN_FILES, caller_token_path, read_secret_file

from .conftest import Stack, start_stack
from .test_system import mint, session

SERVICES = {"gumloop-mcp-facade", "gumloop-mcp-tokens", "gumloop-mcp-proxy"}
_LINE = re.compile(r"^\[(?P<name>[a-z]+)\] (?P<json>\{.*\})$")


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _flat(resource: dict[str, Any], span: Any) -> dict[str, Any]:
    return {
        "service": resource.get("service.name"),
        "resource": resource,
        "name": span.name,
        "kind": span.kind,
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_id": span.parent_span_id.hex(),
        "attributes": {kv.key: _value(kv.value) for kv in span.attributes},
    }


class Receiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1: keeps every span as a flat dict."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                receiver.add(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, request: ExportTraceServiceRequest) -> None:
        found = []
        for resource_spans in request.resource_spans:
            resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                found.extend(_flat(resource, span) for span in scope_spans.spans)
        with self.changed:
            self.spans.extend(found)
            self.changed.notify_all()

    def wait_for(self, what: Callable[[list[dict[str, Any]]], Any], timeout: float = 30.0) -> Any:
        """The first truthy `what(spans)`, re-checked as spans arrive."""
        with self.changed:
            result = self.changed.wait_for(lambda: what(self.spans), timeout)
        assert result, f"no such spans within {timeout}s; have {[s['name'] for s in self.spans]}"
        return result

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Receiver, Path]]:
    with Receiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "GMCP_PROXY_LOG_LEVEL": "DEBUG",
            "GMCP_TOKENS_LOG_LEVEL": "DEBUG",
        }
        base = tmp_path_factory.mktemp("traced")
        with start_stack(base, env_extra=env) as stack:
            yield stack, receiver, base / "data"


def _in_trace(spans: list[dict[str, Any]], trace_id: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["trace_id"] == trace_id]


def _log_lines(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    lines = []
    for raw in stack.logs().splitlines():
        match = _LINE.match(raw)
        if match:
            try:
                lines.append((match["name"], json.loads(match["json"])))
            except ValueError:
                continue
    return lines


def _secrets(stack: Stack, data_dir: Path, url: str) -> list[str]:
    """Every secret of the stack: its API token, URL tokens, the emulator key, the caller tokens."""
    found = [stack.ready["api_token"], stack.ready["mcp_url"].rsplit("/", 1)[-1], url.rsplit("/", 1)[-1]]
    found.append("gl-emulator-key")
    found.extend(
        secret
        for (caller, server) in CALLER_TOKEN_FILES
        if (secret := read_secret_file(caller_token_path(data_dir, caller, server)))
    )
    assert len(found) > 4, "the caller tokens were found"
    return found


def test_one_trace_links_a_tool_call_across_every_process(traced: tuple[Stack, Receiver, Path]) -> None:
    """A freshly minted server's first requests: the façade resolves the URL token at the token
    service, then calls the proxy, which calls Gumloop; one trace per request spans the processes."""
    stack, receiver, data_dir = traced
    request_id = f"e2e-{uuid.uuid4().hex[:12]}"

    async def drive() -> str:
        created = await mint(stack, {"name": "traced", "config": {"methods": ["read"]}})
        url = str(created["url"])
        async with session(url, {"X-Request-Id": request_id}) as client:
            result = await client.call_tool("list_all_gumloop_teams", {})
            assert not result.is_error, result.content
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
            bad = await http.post(url, content=b"{", headers={"X-Request-Id": "not ok!" * 20})
        assert re.fullmatch(r"[0-9a-f]{16}", bad.headers["X-Request-Id"]), "an ill-formed id is replaced"
        return url

    url = asyncio.run(drive())

    def tool_call(spans: list[dict[str, Any]]) -> dict[str, Any] | None:
        for span in spans:
            if (
                span["attributes"].get("gen_ai.tool.name") == "list_all_gumloop_teams"
                and span["attributes"].get("gmcp.request_id") == request_id
            ):
                trace = _in_trace(spans, span["trace_id"])
                if any(s["attributes"].get("gmcp.operation") for s in trace):
                    return span
        return None

    root = receiver.wait_for(tool_call)
    assert root["service"] == "gumloop-mcp-facade" and root["kind"] == 2  # SERVER
    assert root["name"] == "MCP tools/call list_all_gumloop_teams"
    assert root["attributes"]["mcp.method.name"] == "tools/call"
    assert root["attributes"]["gmcp.mcp_server.id"]
    assert root["attributes"]["url.path"].startswith("/mcp/<redacted>")
    trace_id = root["trace_id"]
    trace = _in_trace(receiver.spans, trace_id)
    by_id = {s["span_id"]: s for s in trace}
    upstream = [s for s in trace if s["attributes"].get("gmcp.operation")]
    assert upstream and all(
        s["service"] == "gumloop-mcp-proxy" and s["kind"] == 3 for s in upstream
    )  # CLIENT
    hop = upstream[0]
    assert hop["attributes"]["http.response.status_code"] == 200
    assert hop["attributes"]["http.request.method"] == "GET"
    # the chain: upstream HTTP <- proxy gRPC server <- façade gRPC client <- façade MCP request
    chain = [hop]
    while chain[-1]["parent_id"] in by_id:
        chain.append(by_id[chain[-1]["parent_id"]])
    assert [(s["service"], s["kind"]) for s in chain] == [
        ("gumloop-mcp-proxy", 3),  # the upstream HTTP request (CLIENT)
        ("gumloop-mcp-proxy", 2),  # InvokeOperation (SERVER)
        ("gumloop-mcp-facade", 3),  # InvokeOperation (CLIENT)
        ("gumloop-mcp-facade", 2),  # the MCP request (SERVER)
    ]
    assert chain[-1]["span_id"] == root["span_id"]
    assert chain[1]["attributes"]["rpc.method"] == "InvokeOperation"
    assert chain[1]["attributes"]["rpc.grpc.status_code"] == 0

    # the token service calls the proxy in the trace of its own request (a CLIENT span, then the
    # proxy's SERVER span as its child)
    def tokens_to_proxy(spans: list[dict[str, Any]]) -> bool:
        clients = {s["span_id"] for s in spans if s["service"] == "gumloop-mcp-tokens" and s["kind"] == 3}
        return any(s["service"] == "gumloop-mcp-proxy" and s["parent_id"] in clients for s in spans)

    receiver.wait_for(tokens_to_proxy)

    # the first request of the new server resolved its URL token at the token service, in its trace
    def resolved(spans: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        for span in spans:
            if (
                span["service"] == "gumloop-mcp-facade"
                and span["attributes"].get("gmcp.request_id") == request_id
            ):
                linked = _in_trace(spans, span["trace_id"])
                if any(s["service"] == "gumloop-mcp-tokens" for s in linked):
                    return linked
        return None

    linked = receiver.wait_for(resolved)
    assert {s["service"] for s in linked} >= {"gumloop-mcp-facade", "gumloop-mcp-tokens"}
    assert {s["service"] for s in receiver.spans} == SERVICES

    # no secret in any span name or attribute value, nor a token shape
    dumped = json.dumps([{k: s[k] for k in ("name", "attributes", "resource")} for s in receiver.spans])
    for secret in _secrets(stack, data_dir, url):
        assert secret not in dumped
    assert not re.search(r"gmcp(at)?_[A-Za-z0-9]{20,}", dumped)
    assert "Bearer" not in dumped and "api_key" not in dumped

    # the logs: the tool call's trace id and request id find lines of every process involved
    def logged() -> dict[str, set[str]]:
        seen: dict[str, set[str]] = {}
        for name, line in _log_lines(stack):
            if line.get("trace_id") == trace_id:
                seen.setdefault("trace", set()).add(name)
                if line.get("logger") == "services.mcp_facade.access":
                    seen.setdefault("access", set()).add(name)
            if line.get("request_id") == request_id:
                seen.setdefault("request", set()).add(name)
        return seen

    seen = logged()
    # INFO/DEBUG lines are written in batches of at most 50 ms, and the access line is the façade's
    # last line of the call: wait for it too, up to 5 s on a busy machine.
    for _ in range(50):
        if (
            {"facade", "proxy"} <= seen.get("trace", set())
            and {"facade", "proxy", "tokens"} <= seen.get("request", set())
            and "facade" in seen.get("access", set())
        ):
            break
        threading.Event().wait(0.1)
        seen = logged()
    assert {"facade", "proxy"} <= seen.get("trace", set()), seen
    assert {"facade", "proxy", "tokens"} <= seen.get("request", set()), seen
    access = [
        line
        for name, line in _log_lines(stack)
        if name == "facade"
        and line.get("logger") == "services.mcp_facade.access"
        and line.get("trace_id") == trace_id
    ]
    assert access, "the façade's access line of the tool call carries its trace id"
    entry = access[0]
    assert entry["request_id"] == request_id and entry["rpc_method"] == "tools/call"
    assert entry["path"].startswith("/mcp/") and url.rsplit("/", 1)[-1] not in entry["path"]
    assert {"method", "status", "duration_ms", "bytes", "client", "span_id"} <= entry.keys()
    assert entry["status"] == 200 and isinstance(entry["duration_ms"], float)
    for _name, line in _log_lines(stack):
        stamp = datetime.fromisoformat(line["time"])
        assert stamp.utcoffset() is not None, line["time"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", line["time"])


async def _stateless_call(url: str, request_id: str) -> dict[str, Any]:
    """A 2026-07-28 (stateless) tools/call: no initialize first, so on a freshly minted server it is the
    first request the façade sees for that URL token."""
    name = "list_all_gumloop_teams"
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "trace-test", "version": "1"},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    body["params"] = {"name": name, "arguments": {}, "_meta": meta}
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
        "X-Request-Id": request_id,
    }
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        resp = await http.post(url, json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Request-Id"] == request_id
    reply: dict[str, Any] = resp.json()
    assert "result" in reply and not reply["result"].get("isError"), reply
    return reply


def _tool_call_trace(
    receiver: Receiver, request_id: str, *, services: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The spans of the trace whose façade root carries `request_id`, once its upstream span is in (and a
    span of each of `services`: each process exports in its own batches, so they arrive in any order)."""

    def found(spans: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        for span in spans:
            if span["service"] == "gumloop-mcp-facade" and span["attributes"].get("gmcp.request_id") == (
                request_id
            ):
                trace = _in_trace(spans, span["trace_id"])
                arrived = {s["service"] for s in trace}
                if any(s["attributes"].get("gmcp.operation") for s in trace) and arrived.issuperset(services):
                    return trace
        return None

    trace: list[dict[str, Any]] = receiver.wait_for(found)
    return trace


def _ancestry(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> list[tuple[str, int, str]]:
    """(service, kind, rpc.method or span name) from `span` up to the trace's root."""
    chain = [span]
    while chain[-1]["parent_id"] in by_id:
        chain.append(by_id[chain[-1]["parent_id"]])
    return [(s["service"], s["kind"], s["attributes"].get("rpc.method", s["name"])) for s in chain]


def test_the_first_tool_call_traces_facade_tokens_proxy_and_upstream_and_its_logs_carry_the_trace(
    traced: tuple[Stack, Receiver, Path],
) -> None:
    """The first request for a freshly minted URL token is a tools/call (stateless revision, no
    initialize before it), so the façade resolves the token at the token service inside that call: one
    trace holds façade → token service (ResolveToken) and façade → proxy → Gumloop (InvokeOperation and
    the upstream HTTP request). A second call within the façade's token cache TTL
    (GMCP_FACADE_TOKEN_CACHE_TTL_S, 30 s) is answered from the cache: its trace has no token-service span.
    Every log line of the first call, in each process, carries its request id and its trace id."""
    stack, receiver, data_dir = traced
    first_id, cached_id = (f"e2e-first-{uuid.uuid4().hex[:8]}", f"e2e-cached-{uuid.uuid4().hex[:8]}")

    async def drive() -> str:
        created = await mint(stack, {"name": "traced-first", "config": {"methods": ["read"]}})
        url = str(created["url"])
        await _stateless_call(url, first_id)
        await _stateless_call(url, cached_id)
        return url

    url = asyncio.run(drive())

    trace = _tool_call_trace(receiver, first_id, services=("gumloop-mcp-tokens",))
    by_id = {s["span_id"]: s for s in trace}
    (root,) = [s for s in trace if s["parent_id"] not in by_id]
    assert (root["service"], root["kind"], root["name"]) == (
        "gumloop-mcp-facade",
        2,  # SERVER
        "MCP tools/call list_all_gumloop_teams",
    )
    trace_id = root["trace_id"]
    resolve = [s for s in trace if s["service"] == "gumloop-mcp-tokens" and s["kind"] == 2]
    assert [s["attributes"].get("rpc.method") for s in resolve] == ["ResolveToken"]
    assert _ancestry(resolve[0], by_id) == [
        ("gumloop-mcp-tokens", 2, "ResolveToken"),  # the token service's SERVER span
        ("gumloop-mcp-facade", 3, "ResolveToken"),  # the façade's CLIENT span
        ("gumloop-mcp-facade", 2, root["name"]),  # the MCP request
    ]
    (upstream,) = [s for s in trace if s["attributes"].get("gmcp.operation")]
    assert [t[:2] for t in _ancestry(upstream, by_id)] == [
        ("gumloop-mcp-proxy", 3),  # the upstream HTTP request (CLIENT)
        ("gumloop-mcp-proxy", 2),  # InvokeOperation (SERVER)
        ("gumloop-mcp-facade", 3),  # InvokeOperation (CLIENT)
        ("gumloop-mcp-facade", 2),  # the MCP request
    ]
    assert _ancestry(upstream, by_id)[1][2] == "InvokeOperation"
    assert upstream["attributes"]["http.response.status_code"] == 200
    assert {s["service"] for s in trace} == SERVICES

    cached = _tool_call_trace(receiver, cached_id)
    assert cached[0]["trace_id"] != trace_id
    assert {s["service"] for s in cached} == {"gumloop-mcp-facade", "gumloop-mcp-proxy"}, (
        "a cached URL token is not resolved again"
    )

    # no secret in any span of either call
    dumped = json.dumps([{k: s[k] for k in ("name", "attributes", "resource")} for s in trace + cached])
    for secret in _secrets(stack, data_dir, url):
        assert secret not in dumped
    assert not re.search(r"gmcp(at)?_[A-Za-z0-9]{20,}", dumped)

    # every log line of the call: found by its request id in each process, and each carries the trace id
    def of_call() -> dict[str, list[dict[str, Any]]]:
        lines: dict[str, list[dict[str, Any]]] = {}
        for name, line in _log_lines(stack):
            if line.get("request_id") == first_id or line.get("trace_id") == trace_id:
                lines.setdefault(name, []).append(line)
        return lines

    lines = of_call()
    for _ in range(50):  # INFO/DEBUG lines are written in batches of at most 50 ms
        if {"facade", "tokens", "proxy"} <= lines.keys():
            break
        threading.Event().wait(0.1)
        lines = of_call()
    assert {"facade", "tokens", "proxy"} <= lines.keys(), {k: len(v) for k, v in lines.items()}
    for name, found in lines.items():
        for line in found:
            assert line.get("trace_id") == trace_id, (name, line)
            assert line.get("request_id") == first_id, (name, line)
            assert re.fullmatch(r"[0-9a-f]{16}", line.get("span_id", "")), (name, line)
