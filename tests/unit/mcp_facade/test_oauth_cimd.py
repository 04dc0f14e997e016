"""Client ID Metadata Documents (oauth/cimd.py) against a document server on 127.0.0.1.

The fetcher is built with allow_loopback_http (the test/dev setting); with it off, the same
loopback URLs are refused before any fetch.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from services.mcp_facade.oauth.cimd import ClientMetadataError, ClientMetadataFetcher
from services.mcp_facade.oauth.redirects import CLAUDE_CALLBACKS, RedirectPolicy

REDIRECT = "http://127.0.0.1:9/cb"


class Documents:
    """A loopback HTTP server whose /<name> answers what `routes[name]` returns; counts hits."""

    def __init__(self) -> None:
        self.base = ""
        self.hits: dict[str, int] = {}
        self.hosts: list[str] = []
        self.routes: dict[str, Callable[[str], web.StreamResponse]] = {}

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def serve(self, name: str, document: dict[str, Any] | None = None, **overrides: Any) -> str:
        url = self.url(name)
        body = {"client_id": url, "client_name": "Doc client", "redirect_uris": [REDIRECT]}
        body.update(document or {})
        body.update(overrides)
        self.routes[name] = lambda _: web.json_response(body)
        return url

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        self.hosts.append(request.host)
        return self.routes[name](self.url(name))


@pytest.fixture
async def documents() -> AsyncIterator[Documents]:
    docs = Documents()
    app = web.Application()
    app.router.add_get("/{name}", docs.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    docs.base = f"http://127.0.0.1:{port}"
    try:
        yield docs
    finally:
        await runner.cleanup()


def _fetcher(*, loopback: bool = True, ttl_s: float = 300.0) -> ClientMetadataFetcher:
    return ClientMetadataFetcher(
        RedirectPolicy(CLAUDE_CALLBACKS), allow_loopback_http=loopback, cache_ttl_s=ttl_s
    )


async def test_a_valid_document_is_read_once_and_cached(documents: Documents) -> None:
    url = documents.serve("client.json")
    fetcher = _fetcher()
    assert fetcher.is_metadata_url(url)
    first = await fetcher.document(url)
    again = await fetcher.document(url)
    assert (first.client_id, first.client_name, first.redirect_uris) == (url, "Doc client", (REDIRECT,))
    assert again is first and documents.hits["client.json"] == 1
    uncached = _fetcher(ttl_s=0)
    await uncached.document(url)
    await uncached.document(url)
    assert documents.hits["client.json"] == 3


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"client_id": "https://elsewhere.example.com/client.json"}, "not its own URL"),
        ({"redirect_uris": ["https://evil.example.com/cb"]}, "is not allowed"),
        ({"redirect_uris": []}, "redirect_uris must be"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "must be none"),
        ({"grant_types": ["password"]}, "grant_types"),
        ({"client_name": 7}, "client_name"),
    ],
)
async def test_an_unusable_document_is_refused_with_its_reason(
    documents: Documents, overrides: dict[str, Any], reason: str
) -> None:
    url = documents.serve("bad.json", **overrides)
    with pytest.raises(ClientMetadataError, match=reason):
        await _fetcher().document(url)


async def test_transport_rules_size_redirects_status_and_json(documents: Documents) -> None:
    fetcher = _fetcher()
    huge = documents.serve("huge.json", client_name="", padding="x" * 20_000)
    with pytest.raises(ClientMetadataError, match="exceeds"):
        await fetcher.document(huge)
    target = documents.serve("target.json")
    documents.routes["moved.json"] = lambda _: web.Response(status=302, headers={"Location": target})
    with pytest.raises(ClientMetadataError, match="HTTP 302"):
        await fetcher.document(documents.url("moved.json"))
    documents.routes["gone.json"] = lambda _: web.Response(status=404)
    with pytest.raises(ClientMetadataError, match="HTTP 404"):
        await fetcher.document(documents.url("gone.json"))
    documents.routes["text.json"] = lambda _: web.Response(text="not json {")
    with pytest.raises(ClientMetadataError, match="not JSON"):
        await fetcher.document(documents.url("text.json"))
    documents.routes["list.json"] = lambda _: web.Response(text=json.dumps([1]))
    with pytest.raises(ClientMetadataError, match="not a JSON object"):
        await fetcher.document(documents.url("list.json"))
    assert documents.hits.get("target.json") is None  # the redirect was not followed


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1:1/client.json", "not a public address"),
        ("http://127.0.0.1:1/client.json", "must use https"),
        ("https://example.com/", "must have a path"),
        ("https://example.com/a/../client.json", "must have a path"),
        ("https://user@example.com/client.json", "no user info"),
        ("https://example.com/client.json#x", "no user info or fragment"),
        ("https://example.com/" + "a" * 1000, "longer than"),
    ],
)
async def test_urls_without_the_test_setting(url: str, reason: str) -> None:
    """Off (the default): https only, public addresses only, a real path; refused before a fetch."""
    fetcher = _fetcher(loopback=False)
    assert fetcher.is_metadata_url(url) is url.startswith("https://")
    with pytest.raises(ClientMetadataError, match=reason):
        await fetcher._fetch(url)


async def test_the_fetch_connects_to_the_address_that_was_checked(
    documents: Documents, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the host resolves to a checked address first and to another one afterwards; the
    fetch still goes to the checked address (with the URL's own Host header), never to the second
    answer (127.0.0.2, where nothing listens: an unpinned fetch fails to connect)."""
    port = int(documents.base.rsplit(":", 1)[1])
    url = f"http://localhost:{port}/pinned.json"
    body = {"client_id": url, "client_name": "Pinned", "redirect_uris": [REDIRECT]}
    documents.routes["pinned.json"] = lambda _: web.json_response(body)
    loop = asyncio.get_running_loop()
    real_getaddrinfo = loop.getaddrinfo
    lookups: list[str] = []

    async def rebinding_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("localhost", b"localhost"):
            lookups.append(str(host))
            address = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return await real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", rebinding_getaddrinfo)
    document = await _fetcher().document(url)
    assert document.client_name == "Pinned"
    assert documents.hosts == [f"localhost:{port}"]
    assert lookups == ["localhost"]  # resolved once, for the check; the connection used its answer
