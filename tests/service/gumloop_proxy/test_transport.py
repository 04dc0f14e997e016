"""The aiohttp transport under httpx: same wire requests, same answers, httpx errors, no URL leaks."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.gumloop_proxy.errors import UpstreamTimeout
from services.gumloop_proxy.requests import UpstreamRequest
from services.gumloop_proxy.settings import ProxySettings
from services.gumloop_proxy.transport import AiohttpTransport, default_transport
from services.gumloop_proxy.upstream import Upstream

SIGNED_QUERY = "X-Goog-Signature=deadbeefsecret"
LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """A loopback HTTP server recording each request it saw."""
    seen: list[web.Request] = []
    release = asyncio.Event()

    async def echo(request: web.Request) -> web.Response:
        seen.append(request)
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "query": request.query_string,
                "headers": [[k.lower(), v] for k, v in request.headers.items()],
                "body": body.decode("latin-1"),
            }
        )

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/elsewhere"})

    async def gzipped(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(b'{"ok": true}'),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"part": ')
        await response.write(b"1}")
        await response.write_eof()
        return response

    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b"x" * 10)
        assert request.transport is not None
        request.transport.close()
        return response

    async def drip(request: web.Request) -> web.StreamResponse:
        # One byte every 0.2 s for 8 s: each read is quick, the whole answer is not.
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "40"})
        await response.prepare(request)
        for _ in range(40):
            if release.is_set():
                break
            await response.write(b" ")
            await asyncio.sleep(0.2)
        return response

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/drip", drip)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/gzip", gzipped)
    app.router.add_get("/slow", slow)
    app.router.add_get("/cut", cut)
    app.router.add_get("/chunked", chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        release.set()
        await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the aiohttp transport, as the proxy builds it."""
    transport = AiohttpTransport(max_connections=10, keepalive_expiry=30.0)
    async with httpx.AsyncClient(transport=transport, follow_redirects=False, timeout=5.0) as opened:
        yield opened


async def test_headers_query_and_json_body_arrive_once_each(server, client: httpx.AsyncClient):
    """What httpx builds is what the server sees: one of each header, the query, the JSON body."""
    base, _ = server
    response = await client.post(
        f"{base}/echo",
        params=[("team_id", "t1"), ("tag", "a"), ("tag", "b")],
        json={"name": "ü"},
        headers={"authorization": "Bearer k", "x-auth-key": "u1", "accept": "application/json"},
    )
    assert response.status_code == 200
    seen = response.json()
    headers = seen["headers"]
    names = [name for name, _ in headers]
    for name in ("accept", "user-agent", "host", "content-type", "content-length", "authorization"):
        assert names.count(name) == 1, name
    assert ["accept", "application/json"] in headers
    assert ["x-auth-key", "u1"] in headers
    assert seen["query"] == "team_id=t1&tag=a&tag=b"
    assert seen["body"].encode("latin-1").decode() == '{"name":"ü"}'


async def test_multipart_upload_arrives_intact(server, client: httpx.AsyncClient):
    """Files and form fields reach the server as one well-formed multipart body."""
    base, _ = server
    payload = bytes(range(256)) * 10
    response = await client.post(
        f"{base}/echo", data={"name": "skill"}, files=[("file", ("a.zip", payload, "application/zip"))]
    )
    seen = response.json()
    body = seen["body"].encode("latin-1")
    assert payload in body
    assert b'name="name"' in body and b"skill" in body
    content_type = dict(seen["headers"])["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")


async def test_redirects_are_returned_not_followed(server, client: httpx.AsyncClient):
    """A 302 comes back as the answer (the proxy never follows redirects)."""
    base, _ = server
    response = await client.get(f"{base}/redirect")
    assert response.status_code == 302
    assert response.headers["location"] == "/elsewhere"


async def test_compressed_answers_are_decoded_once(server, client: httpx.AsyncClient):
    """gzip is undone by httpx exactly once (the transport passes the raw bytes)."""
    base, _ = server
    response = await client.get(f"{base}/gzip")
    assert response.json() == {"ok": True}


async def test_streamed_lines_arrive_in_order(server, client: httpx.AsyncClient):
    """Streaming reads work through httpx's own line iteration."""
    base, _ = server
    async with client.stream("GET", f"{base}/echo") as response:
        text = "".join([line async for line in response.aiter_lines()])
    assert '"method": "GET"' in text


async def test_a_refused_connection_is_httpx_connect_error(client: httpx.AsyncClient):
    """Nothing listening: httpx.ConnectError, which the upstream layer treats as unavailable."""
    with pytest.raises(httpx.ConnectError):
        await client.get("http://127.0.0.1:1/x")


async def test_a_silent_server_is_a_read_timeout_without_the_url(server, client: httpx.AsyncClient):
    """A read timeout is httpx.ReadTimeout and its message does not quote the (signed) URL."""
    base, _ = server
    with pytest.raises(httpx.ReadTimeout) as caught:
        await client.get(f"{base}/slow?{SIGNED_QUERY}", timeout=httpx.Timeout(0.2, connect=2.0))
    assert "deadbeef" not in str(caught.value)


async def test_a_body_cut_short_is_an_httpx_transport_error(server, client: httpx.AsyncClient):
    """The server closing mid-body raises an httpx.TransportError, not an aiohttp one."""
    base, _ = server
    with pytest.raises(httpx.TransportError) as caught:
        await client.get(f"{base}/cut?{SIGNED_QUERY}")
    assert "deadbeef" not in str(caught.value)


async def test_connections_are_reused(server, client: httpx.AsyncClient):
    """Sequential requests share one keep-alive connection."""
    base, seen = server
    for _ in range(3):
        assert (await client.get(f"{base}/echo")).status_code == 200
    peers = {request.transport.get_extra_info("peername") for request in seen if request.transport}
    assert len(peers) == 1


def test_a_configured_proxy_leaves_httpx_its_own_transport(monkeypatch: pytest.MonkeyPatch):
    """With HTTPS_PROXY set, httpx keeps routing (default_transport gives None); without, aiohttp."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(default_transport(10, 30.0), AiohttpTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert default_transport(10, 30.0) is None


async def test_fetch_reads_and_decodes_the_whole_answer_without_inventing_headers(server) -> None:
    """fetch() is client.send() with the body read: gzip undone, a chunked answer gets no Content-Length."""
    base, _ = server
    transport = AiohttpTransport(max_connections=10, keepalive_expiry=30.0)
    async with httpx.AsyncClient(transport=transport) as client:
        gzipped = await transport.fetch(client.build_request("GET", f"{base}/gzip"))
        assert gzipped.json() == {"ok": True}
        assert gzipped.headers["content-encoding"] == "gzip"
        chunked = await transport.fetch(client.build_request("GET", f"{base}/chunked"))
        assert chunked.json() == {"part": 1}
        assert "content-length" not in chunked.headers
        redirect = await transport.fetch(client.build_request("GET", f"{base}/redirect"))
        assert redirect.status_code == 302
        with pytest.raises(httpx.TransportError) as caught:
            await transport.fetch(client.build_request("GET", f"{base}/cut?{SIGNED_QUERY}"))
        assert "deadbeef" not in str(caught.value)


async def test_the_upstream_client_answers_through_the_aiohttp_transport(server) -> None:
    """Upstream on its default transport: status, body and only the useful headers come back."""
    base, seen = server
    upstream = Upstream(ProxySettings(request_timeout_s=5, connect_timeout_s=1))
    try:
        request = UpstreamRequest(
            method="POST",
            url=f"{base}/echo",
            params=[("team_id", "t1")],
            json_body={"a": 1},
            headers={"authorization": "Bearer k"},
        )
        answer = await upstream.send(request, account_id="acc", max_concurrency=0, operation="op")
        chunked = await upstream.send(
            UpstreamRequest(method="GET", url=f"{base}/chunked"),
            account_id="acc",
            max_concurrency=0,
            operation="op",
        )
    finally:
        await upstream.close()
    assert answer.status == 200 and answer.is_json
    assert b'"query": "team_id=t1"' in answer.content
    assert seen[0].headers["authorization"] == "Bearer k"
    assert chunked.content == b'{"part": 1}'
    assert chunked.headers == {"content-type": "application/json"}


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 signed by nobody anyone trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_tls_certificates_are_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An untrusted certificate is refused (httpx.ConnectError); SSL_CERT_FILE trusts it, as with httpx."""
    cert_path, key_path = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="secret answer")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    transport = AiohttpTransport(max_connections=4, keepalive_expiry=5.0)
    try:
        async with httpx.AsyncClient(transport=transport, timeout=5.0) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"https://127.0.0.1:{port}/")
            with pytest.raises(httpx.ConnectError):
                await transport.fetch(client.build_request("GET", f"https://127.0.0.1:{port}/"))
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
        trusting = AiohttpTransport(max_connections=4, keepalive_expiry=5.0)
        async with httpx.AsyncClient(transport=trusting, timeout=5.0) as client:
            assert (await client.get(f"https://127.0.0.1:{port}/")).text == "secret answer"
    finally:
        await runner.cleanup()


async def test_the_proxy_refuses_an_answer_above_max_response_bytes_over_the_wire(server):
    """Through the real aiohttp transport: too large by bytes or once gunzipped -> UpstreamTooLarge."""
    from services.gumloop_proxy import errors

    base, _ = server
    settings = ProxySettings(request_timeout_s=5, connect_timeout_s=1, max_response_bytes=11)
    upstream = Upstream(settings)
    try:

        async def get(path: str) -> bytes:
            request = UpstreamRequest(method="GET", url=f"{base}{path}", headers={})
            answer = await upstream.send(request, account_id="a", max_concurrency=0, operation="op")
            return answer.content

        assert await get("/chunked") == b'{"part": 1}'  # exactly 11 bytes: fits
        with pytest.raises(errors.UpstreamTooLarge, match="larger than 11 bytes"):
            await get("/echo")
        with pytest.raises(errors.UpstreamTooLarge):
            await get("/gzip")  # a compressed answer counts too
        assert await get("/chunked") == b'{"part": 1}'  # the pool still works after a dropped body
    finally:
        await upstream.close()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_an_answer_dripping_in_is_bounded_by_request_timeout_s_as_a_whole(
    server, transport: str
) -> None:
    """Per-read timeouts never fire on a byte a second: request_timeout_s=1 kept a call alive ~10 s."""
    base, _ = server
    settings = ProxySettings(request_timeout_s=1, connect_timeout_s=1)
    own = None if transport == "aiohttp" else httpx.AsyncHTTPTransport()
    upstream = Upstream(settings, transport=own)
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamTimeout) as caught:
            await upstream.send(
                UpstreamRequest(method="GET", url=f"{base}/drip?{SIGNED_QUERY}"),
                account_id="acc",
                max_concurrency=0,
                operation="op",
            )
    finally:
        await upstream.close()
    elapsed = time.monotonic() - started
    assert elapsed < 4, elapsed
    assert "within 1 s (request_timeout_s)" in caught.value.message
    assert "deadbeef" not in caught.value.message
    # The caller's deadline, when sooner, is the bound and is named as such.
    upstream = Upstream(settings, transport=own if own is None else httpx.AsyncHTTPTransport())
    try:
        with pytest.raises(UpstreamTimeout) as caught:
            await upstream.send(
                UpstreamRequest(method="GET", url=f"{base}/drip"),
                account_id="acc",
                max_concurrency=0,
                operation="op",
                deadline=time.monotonic() + 0.5,
            )
    finally:
        await upstream.close()
    assert "the caller's deadline" in caught.value.message
