"""LiveWork: what a replica holds open per MCP server, and how revocations cut it."""

from __future__ import annotations

from services.mcp_facade.protocol.live import REVOKED_MESSAGE, LiveWork, SecondFactor, token_key


def test_cut_server_ends_that_servers_holds_once_and_spares_the_others() -> None:
    """Every hold of the record is cut once with the reason; other records' holds stay."""
    live = LiveWork()
    cuts: list[tuple[str, str]] = []
    live.hold("mcp_1", "tok_a", lambda reason: cuts.append(("a", reason)))
    live.hold("mcp_1", "", lambda reason: cuts.append(("task", reason)))
    live.hold("mcp_2", "tok_b", lambda reason: cuts.append(("b", reason)))
    assert live.cut_server("mcp_1") == 2
    assert sorted(cuts) == [("a", REVOKED_MESSAGE), ("task", REVOKED_MESSAGE)]
    assert live.cut_server("mcp_1") == 0
    assert (live.count("mcp_1"), live.count("mcp_2")) == (0, 1)


def test_a_hold_taken_after_its_server_was_revoked_is_cut_at_once() -> None:
    """A request that resolved its token just before the revocation cannot slip through."""
    live = LiveWork()
    live.cut_server("mcp_1")
    cuts: list[str] = []
    hold = live.hold("mcp_1", "tok", cuts.append)
    assert cuts == [REVOKED_MESSAGE] and hold.done and live.count() == 0


def test_cut_token_ends_only_what_that_token_opened() -> None:
    """A token whose grace ended cuts its own holds, not those of the record's new token."""
    live = LiveWork()
    cuts: list[str] = []
    live.hold("mcp_1", "old", lambda _: cuts.append("old"))
    live.hold("mcp_1", "new", lambda _: cuts.append("new"))
    live.hold("mcp_1", "", lambda _: cuts.append("task"))
    assert live.tokens("mcp_1") == {token_key("old"): "old", token_key("new"): "new"}
    assert live.cut_token(token_key("old")) == 1
    assert cuts == ["old"] and live.count("mcp_1") == 2
    assert live.tokens() == {token_key("new"): "new"}


def test_an_expiry_seen_only_on_a_cache_hit_does_not_condemn_the_record() -> None:
    """cut_server(remember=False) cuts what is open but lets later holds of the record live."""
    live = LiveWork()
    cuts: list[str] = []
    live.hold("mcp_1", "tok", cuts.append)
    assert live.cut_server("mcp_1", remember=False) == 1
    later = live.hold("mcp_1", "tok", cuts.append)
    assert cuts == [REVOKED_MESSAGE] and not later.done and live.count("mcp_1") == 1


def test_cut_api_token_ends_only_what_that_api_token_opened() -> None:
    """Holds opened with another API token, or with none, stay."""
    live = LiveWork()
    cuts: list[str] = []
    revoked = SecondFactor("apit_1", "acct_1", "Bearer gmcpat_one")
    kept = SecondFactor("apit_2", "acct_1", "Bearer gmcpat_two")
    live.hold("mcp_1", "tok", lambda _: cuts.append("one"), second_factor=revoked)
    live.hold("mcp_1", "tok", lambda _: cuts.append("two"), second_factor=kept)
    live.hold("mcp_1", "tok", lambda _: cuts.append("none"))
    assert live.second_factors() == {"apit_1": revoked, "apit_2": kept}
    assert live.cut_api_token("apit_1") == 1 and cuts == ["one"]
    assert live.cut_api_token("") == 0
    assert live.count("mcp_1") == 2 and list(live.second_factors()) == ["apit_2"]
    assert "gmcpat_two" not in repr(kept)
