"""Unit tests of the input rules (no I/O)."""

from __future__ import annotations

import base64

import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from gumloop_mcp.scope import OperationRef
from services.tokens import validation as v
from services.tokens.errors import InvalidArgument

OPS = [
    OperationRef("list_agents", "list", ("agents",)),
    OperationRef("create_agent", "create", ("agents",)),
    OperationRef("start_pipeline", "custom", ("flows",)),
]


def test_names_must_be_present_short_and_printable() -> None:
    """Blank, 129-character and control-character names are refused; 128 characters pass."""
    assert v.check_name("n", "x" * 128) == []
    assert [f for f, _ in v.check_name("n", "")] == ["n"]
    assert [f for f, _ in v.check_name("n", " \t")] == ["n"]
    assert "at most 128" in v.check_name("n", "x" * 129)[0][1]
    assert "control" in v.check_name("n", "a\x00b")[0][1]


def test_expiry_must_lie_at_least_the_lead_ahead() -> None:
    """Past, too-soon and malformed expiries are refused; one just past the lead is returned as seconds."""
    now = 1_000_000.0
    assert v.check_expiry("e", None, now, 60) == (None, [])
    assert v.check_expiry("e", timestamp_pb2.Timestamp(seconds=1_000_060), now, 60) == (1_000_060.0, [])
    past = v.check_expiry("e", timestamp_pb2.Timestamp(seconds=999_999), now, 60)[1][0][1]
    assert "past" in past and "at least 60 s ahead" in past
    assert "60 s ahead" in v.check_expiry("e", timestamp_pb2.Timestamp(seconds=1_000_059), now, 60)[1][0][1]
    malformed = timestamp_pb2.Timestamp(seconds=1_000_100, nanos=1_000_000_000)
    assert "malformed" in v.check_expiry("e", malformed, now, 60)[1][0][1]


def test_grace_is_bounded() -> None:
    """Grace periods are 0..max; negatives and overlong ones are refused."""
    assert v.check_grace("g", None, 100) == (0.0, [])
    assert v.check_grace("g", duration_pb2.Duration(seconds=100), 100) == (100.0, [])
    assert v.check_grace("g", duration_pb2.Duration(seconds=101), 100)[1]
    assert v.check_grace("g", duration_pb2.Duration(seconds=-1), 100)[1]


def test_scope_is_checked_against_the_catalog() -> None:
    """Unknown methods and tags are named by index; a scope admitting nothing is refused as a whole."""
    assert v.check_scope_against_catalog("c", ["read", "start_pipeline"], [], OPS) == []
    violations = v.check_scope_against_catalog("c", ["read", "bogus"], ["agents", "zzz"], OPS)
    assert [f for f, _ in violations] == ["c.methods", "c.tags", "c.methods[1]", "c.tags[1]"]
    methods_why, tags_why = violations[0][1], violations[1][1]
    # The refusal names every valid value once: groups and operation names, and the known tags.
    assert "read, write, custom" in methods_why and all(op.name in methods_why for op in OPS)
    assert tags_why.startswith("the tags are: ") and all(t in tags_why for op in OPS for t in op.tags)
    nothing = v.check_scope_against_catalog("c", ["custom"], ["agents"], OPS)
    assert [f for f, _ in nothing] == ["c"] and "matches no operation" in nothing[0][1]


def test_scope_lists_are_stripped_and_deduplicated() -> None:
    """Whitespace is trimmed in place (indices stay those of the request); repeats go before storing."""
    assert v.normalize_list([" read", "read", "get_agent ", ""]) == ["read", "read", "get_agent", ""]
    assert v.unique(["read", "read", "get_agent"]) == ("read", "get_agent")
    assert [f for f, _ in v.check_scope_shape("c", ["read", ""], ["x" * 129])] == [
        "c.methods[1]",
        "c.tags[0]",
    ]


def test_page_size_defaults_caps_and_refuses_negatives() -> None:
    """0 is 50, 500 is capped at 100, negatives are refused."""
    assert v.check_page_size("p", 0) == (50, [])
    assert v.check_page_size("p", 500) == (100, [])
    assert v.check_page_size("p", 7) == (7, [])
    assert v.check_page_size("p", -3)[1]


def test_page_tokens_round_trip_and_are_bound_to_their_listing() -> None:
    """A token decodes to its cursor for the same listing and is refused by another one or when damaged."""
    token = v.encode_page_token("mcp", "acct_a", (123.5, "mcp_x"))
    assert v.encode_page_token("mcp", "acct_a", None) == ""
    assert v.decode_page_token("t", "mcp", "acct_a", token) == (123.5, "mcp_x")
    assert v.decode_page_token("t", "mcp", "acct_a", "") is None
    for kind, scope, damaged in (
        ("mcp", "acct_b", token),
        ("api", "acct_a", token),
        ("mcp", "acct_a", "%%%"),
    ):
        with pytest.raises(InvalidArgument) as err:
            v.decode_page_token("t", kind, scope, damaged)
        assert err.value.violations[0][0] == "t"


def test_a_page_token_holding_a_nesting_bomb_is_invalid_argument() -> None:
    """A forged page token of nested arrays is refused like any foreign token, not an INTERNAL error."""
    bomb = base64.urlsafe_b64encode(b"[" * 5000).decode()
    with pytest.raises(InvalidArgument):
        v.decode_page_token("page_token", "mcp", "acct_a", bomb)


@pytest.mark.parametrize("position", ["NaN", "Infinity", "-Infinity", '"nan"', '"inf"'])
def test_a_page_token_with_a_non_finite_position_is_invalid_argument(position: str) -> None:
    """A forged token whose "t" is NaN or infinite (json accepts both) names the page token field."""
    raw = '{"k":"mcp","s":"acct_a","t":' + position + ',"i":"mcp_x"}'
    token = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    with pytest.raises(InvalidArgument) as err:
        v.decode_page_token("page_token", "mcp", "acct_a", token)
    assert [field for field, _ in err.value.violations] == ["page_token"]


def test_a_page_token_with_a_huge_integer_position_is_invalid_argument() -> None:
    """float() of a 400-digit JSON integer raises OverflowError, which reached the caller as INTERNAL."""
    raw = '{"k":"mcp","s":"acct_a","t":' + "9" * 400 + ',"i":"mcp_x"}'
    token = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    with pytest.raises(InvalidArgument) as err:
        v.decode_page_token("page_token", "mcp", "acct_a", token)
    assert [field for field, _ in err.value.violations] == ["page_token"]
