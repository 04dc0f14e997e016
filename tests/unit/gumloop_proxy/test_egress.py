"""Egress guard: link-local and cloud metadata addresses are never connected to unless allowed."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from services.gumloop_proxy.egress import GuardedResolver
from services.gumloop_proxy.transport import AiohttpTransport


class _Fixed(AbstractResolver):
    """Answers every name with the given addresses (no DNS)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        return None


async def test_a_name_resolving_to_a_metadata_address_is_refused_and_others_are_kept() -> None:
    """DNS pointing a harmless-looking name at 169.254.169.254 cannot route around the base-URL check."""
    with pytest.raises(OSError, match="link-local or metadata"):
        await GuardedResolver(_Fixed("169.254.169.254")).resolve("rebind.example.test", 80)
    with pytest.raises(OSError, match="link-local or metadata"):
        await GuardedResolver(_Fixed("fe80::1", "::ffff:169.254.169.254")).resolve("v6.example.test", 80)
    mixed = await GuardedResolver(_Fixed("169.254.169.254", "127.0.0.1")).resolve("mixed.example.test", 80)
    assert [r["host"] for r in mixed] == ["127.0.0.1"]
    inner = _Fixed("10.0.0.1")
    with pytest.raises(OSError, match="metadata host"):
        await GuardedResolver(inner).resolve("metadata.google.internal", 80)
    assert inner.asked == []


async def test_the_transport_never_opens_a_connection_to_a_metadata_address(monkeypatch: Any) -> None:
    """An IP-literal metadata URL fails as a ConnectError before aiohttp is asked to send anything."""
    transport = AiohttpTransport(max_connections=2, keepalive_expiry=5.0)
    sent: list[str] = []

    async def record(self: Any, method: str, url: str, **kwargs: Any) -> Any:
        sent.append(url)
        raise AssertionError("a request was sent")

    monkeypatch.setattr("aiohttp.ClientSession.request", record)
    async with httpx.AsyncClient(transport=transport) as client:
        for url in ("http://169.254.169.254/latest/meta-data/", "http://[fe80::a9fe:a9fe]/"):
            with pytest.raises(httpx.ConnectError, match="refusing to connect"):
                await client.get(url)
    assert sent == []
    connector = transport._client().connector
    assert isinstance(getattr(connector, "_resolver", None), GuardedResolver)
    await transport.aclose()


async def test_allow_link_local_leaves_the_transport_unguarded(monkeypatch: Any) -> None:
    """With allow_link_local the request goes to aiohttp as it is (the operator asked for it)."""
    transport = AiohttpTransport(max_connections=2, keepalive_expiry=5.0, allow_link_local=True)
    sent: list[str] = []

    async def record(self: Any, method: str, url: str, **kwargs: Any) -> Any:
        sent.append(url)
        raise aiohttp.ClientOSError(111, "not really sent")

    monkeypatch.setattr("aiohttp.ClientSession.request", record)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.HTTPError):
            await client.get("http://169.254.169.254/latest/meta-data/")
    assert sent == ["http://169.254.169.254/latest/meta-data/"]
    await transport.aclose()
