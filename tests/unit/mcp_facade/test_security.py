"""Origin and Host policy."""

from __future__ import annotations

from services.mcp_facade.security import HostPolicy


def test_loopback_server_accepts_only_loopback_hosts_and_origins() -> None:
    """Bound to 127.0.0.1 with no lists: loopback Host/Origin pass, others fail, no Origin passes."""
    policy = HostPolicy([], [], "127.0.0.1")
    assert policy.host_ok("127.0.0.1:8080") and policy.host_ok("localhost") and policy.host_ok("[::1]:80")
    assert not policy.host_ok("evil.example:8080")
    assert policy.origin_ok(None) and policy.origin_ok("http://localhost:3000")
    assert not policy.origin_ok("http://evil.example") and not policy.origin_ok("null")


def test_explicit_allow_lists_are_exact() -> None:
    """With lists set, only listed origins (trailing slash ignored) and hosts pass."""
    policy = HostPolicy(["https://claude.ai/"], ["mcp.example.com"], "0.0.0.0")
    assert policy.origin_ok("https://claude.ai") and not policy.origin_ok("https://claude.ai.evil")
    assert policy.host_ok("mcp.example.com") and policy.host_ok("mcp.example.com:443")
    assert not policy.host_ok("other.example.com")


def test_public_bind_without_host_list_accepts_any_host() -> None:
    """Bound publicly with no host list, any Host passes (the ingress decides)."""
    policy = HostPolicy([], [], "0.0.0.0")
    assert policy.host_ok("anything.example")


def test_names_that_merely_start_like_a_loopback_address_are_not_loopback() -> None:
    """`127.attacker.example` is an attacker's DNS name (rebinding), refused as Host and as Origin."""
    policy = HostPolicy([], [], "127.0.0.1")
    assert not policy.host_ok("127.attacker.example")
    assert not policy.host_ok("127.0.0.1.nip.io:8080")
    assert not policy.origin_ok("http://127.attacker.example")
    assert policy.host_ok("127.5.6.7:8080") and policy.origin_ok("http://127.0.0.2:3000")
