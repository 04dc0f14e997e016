"""Origin/Host validation, the body ceiling, health and metrics endpoints."""

from __future__ import annotations

import re

import aiohttp

from .conftest import Stack

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}


async def test_bad_origin_is_403_and_missing_or_allowed_origin_passes(stack: Stack) -> None:
    """A foreign Origin is refused with 403; no Origin or an allow-listed one is served."""
    server = await stack.make(allowed_origins=["https://claude.ai"])
    url = f"http://127.0.0.1:{server.public_port}/mcp/{stack.token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=INIT, headers={"Origin": "https://evil.example"}) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == -32600
        async with http.post(url, json=INIT, headers={"Origin": "https://claude.ai"}) as resp:
            assert resp.status == 200
        async with http.post(url, json=INIT) as resp:
            assert resp.status == 200
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_allowed_browser_origin_gets_cors_headers(stack: Stack) -> None:
    """An allow-listed Origin gets a CORS preflight answer and Mcp-Session-Id exposed; others do not."""
    server = await stack.make(allowed_origins=["https://inspector.example"])
    url = f"http://127.0.0.1:{server.public_port}/mcp/{stack.token}"
    origin = {"Origin": "https://inspector.example"}
    async with aiohttp.ClientSession() as http:
        async with http.options(url, headers=origin) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == "https://inspector.example"
            assert "Mcp-Session-Id" in resp.headers["Access-Control-Allow-Headers"]
        async with http.post(url, json=INIT, headers=origin) as resp:
            assert resp.status == 200
            assert "Mcp-Session-Id" in resp.headers["Access-Control-Expose-Headers"]


async def test_foreign_host_on_loopback_is_rejected(stack: Stack) -> None:
    """Bound to loopback with no allow-list, a DNS-rebinding Host or Origin gets a 4xx."""
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url, json=INIT, headers={"Host": "evil.example"}) as resp:
            assert resp.status == 421
        async with http.post(stack.url, json=INIT, headers={"Origin": "http://evil.example"}) as resp:
            assert resp.status == 403
        async with http.post(stack.url, json=INIT, headers={"Origin": "http://localhost:3000"}) as resp:
            assert resp.status == 200


async def test_allowed_hosts_list_is_enforced(stack: Stack) -> None:
    """With allowed_hosts set, only those Host values pass."""
    server = await stack.make(allowed_hosts=["mcp.example.com"])
    url = f"http://127.0.0.1:{server.public_port}/mcp/{stack.token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=INIT) as resp:
            assert resp.status == 421
        async with http.post(url, json=INIT, headers={"Host": "mcp.example.com"}) as resp:
            assert resp.status == 200


async def test_oversized_body_is_413_with_jsonrpc_error(stack: Stack) -> None:
    """A body above max_body_bytes is refused with 413 and a JSON-RPC error, declared or streamed."""
    server = await stack.make(max_body_bytes=1000)
    url = f"http://127.0.0.1:{server.public_port}/mcp/{stack.token}"
    big = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"x" * 2000 + b'"}}'

    async def chunks():  # type: ignore[no-untyped-def]
        yield big  # no Content-Length: chunked upload

    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=big, headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == -32600
        async with http.post(url, data=chunks(), headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 413


async def test_health_on_both_ports_and_metrics_on_admin_only(stack: Stack) -> None:
    """/healthz and /readyz answer on both ports; /metrics only on the admin port."""
    public = f"http://127.0.0.1:{stack.server.public_port}"
    admin = f"http://127.0.0.1:{stack.server.admin_port}"
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url, json=INIT) as resp:
            assert resp.status == 200
        for base in (public, admin):
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
            async with http.get(f"{base}/readyz") as resp:
                assert resp.status == 200
                assert (await resp.json())["backends"] == {"tokens": True}
        async with http.get(f"{public}/metrics") as resp:
            assert resp.status == 404
        async with http.get(f"{admin}/metrics") as resp:
            text = await resp.text()
            assert 'gmcp_facade_requests_total{method="initialize",status="200"}' in text
            assert "gmcp_facade_active_sse_streams" in text


async def test_metrics_on_their_own_port_serve_nothing_else_and_minus_one_turns_it_off(stack: Stack) -> None:
    """GMCP_FACADE_METRICS_PORT: the same page as the admin port's /metrics, and no other route."""
    metrics = f"http://127.0.0.1:{stack.server.metrics_port}"
    assert stack.server.ports == {
        "http": stack.server.public_port,
        "admin": stack.server.admin_port,
        "metrics": stack.server.metrics_port,
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url, json=INIT) as resp:
            assert resp.status == 200
        async with http.get(f"{metrics}/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
        assert 'gmcp_facade_requests_total{method="initialize",status="200"}' in text
        assert "process_resident_memory_bytes" in text and "process_open_fds" in text
        assert "grpc_client_handled_total" in text
        for path in ("/openapi.json", "/healthz", f"/mcp/{stack.token}", "/catalog"):
            async with http.get(f"{metrics}{path}") as resp:
                assert resp.status == 404, path
    off = await stack.make(metrics_port=-1)
    assert off.metrics_port == 0 and "metrics" not in off.ports


async def test_every_answer_carries_a_request_id_and_a_tame_ingress_one_is_kept(stack: Stack) -> None:
    """X-Request-Id: the ingress's when well-formed and short, else a fresh one; errors carry it too."""
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url, json=INIT, headers={"X-Request-Id": "lb-1234.abc"}) as resp:
            assert resp.status == 200 and resp.headers["X-Request-Id"] == "lb-1234.abc"
        async with http.post(stack.url, json=INIT, headers={"X-Request-Id": "bad id;" * 3}) as resp:
            assert re.fullmatch(r"[0-9a-f]{16}", resp.headers["X-Request-Id"])
        async with http.post(f"{stack.base}/mcp/not-a-token-at-all", json=INIT) as resp:
            assert resp.status == 404 and re.fullmatch(r"[0-9a-f]{16}", resp.headers["X-Request-Id"])
        async with http.get(f"{stack.url}/sse", headers={"X-Request-Id": "sse-1"}) as resp:
            assert resp.headers["X-Request-Id"] == "sse-1"


async def test_a_userinfo_host_trick_is_refused_on_both_ports(stack: Stack) -> None:
    """`Host: 127.0.0.1:PORT@evil.example` is malformed: 421 on the public port and on the admin port,
    whose /metrics and /openapi.json a rebinding page must not read; the probes answer any Host."""
    server = stack.server
    public = f"http://127.0.0.1:{server.public_port}"
    admin = f"http://127.0.0.1:{server.admin_port}"
    async with aiohttp.ClientSession() as http:
        trick = {"Host": f"127.0.0.1:{server.public_port}@evil.example"}
        async with http.post(f"{public}/mcp/{stack.token}", json=INIT, headers=trick) as resp:
            assert resp.status == 421
        trick = {"Host": f"127.0.0.1:{server.admin_port}@evil.example"}
        for path in ("/metrics", "/openapi.json"):
            async with http.get(f"{admin}{path}", headers=trick) as resp:
                assert resp.status == 421, path
            async with http.get(f"{admin}{path}", headers={"Origin": "http://evil.example"}) as resp:
                assert resp.status == 403, path
            async with http.get(f"{admin}{path}") as resp:
                assert resp.status == 200, path
        async with http.get(f"{admin}/healthz", headers={"Host": "10.0.0.7:8081"}) as resp:
            assert resp.status == 200
