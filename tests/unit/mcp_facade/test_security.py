"""Origin and Host policy."""

from __future__ import annotations

from services.mcp_facade.transport.security import HostPolicy, origin_host, parse_host


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


def test_a_host_is_parsed_strictly_not_cut_at_a_separator() -> None:
    """`127.0.0.1:PORT@evil.com` and other non-`host[:port]` values are malformed, never loopback."""
    policy = HostPolicy([], [], "127.0.0.1")
    for host in (
        "127.0.0.1:8080@evil.com",
        "localhost:1:2",
        "127.0.0.1:99999",
        "127.0.0.1/x",
        "[::1",
        "[zz]:1",
    ):
        assert parse_host(host) is None, host
        assert not policy.host_ok(host), host
    assert parse_host("LocalHost:80") == "localhost" and parse_host("[::1]:443") == "[::1]"
    assert parse_host("127.0.0.1:") == "127.0.0.1"  # RFC 3986: an empty port is allowed
    public = HostPolicy([], [], "0.0.0.0")  # any Host passes when public, but a malformed one never does
    assert public.host_ok("mcp.example.com:443") and not public.host_ok("a@b")


def test_an_origin_is_scheme_host_and_port_only() -> None:
    """Origins with userinfo, a path or another scheme are refused on loopback."""
    policy = HostPolicy([], [], "127.0.0.1")
    assert origin_host("http://[::1]:3000") == "[::1]"
    for origin in ("http://127.0.0.1:80@evil.com", "http://localhost/path", "ftp://localhost", "localhost"):
        assert origin_host(origin) is None, origin
        assert not policy.origin_ok(origin), origin


def test_host_verdicts_are_remembered_per_header_and_stay_right() -> None:
    """host_ok answers a Host header it has judged from memory, with the same verdict, and keeps at
    most a bounded number of them (the header is the client's to choose)."""
    from services.mcp_facade.transport.security import _MAX_HOST_VERDICTS

    policy = HostPolicy([], [], "127.0.0.1")
    for _ in range(2):
        assert policy.host_ok("127.0.0.1:8080")
        assert policy.host_ok("[::1]:8080")
        assert not policy.host_ok("127.attacker.example:8080")
        assert not policy.host_ok("evil.example")
    for i in range(3 * _MAX_HOST_VERDICTS):
        assert not policy.host_ok(f"h{i}.example")
    assert policy._host_verdicts.cache_info().currsize <= _MAX_HOST_VERDICTS
    assert policy.host_ok("localhost:8080")
