"""Signed session ids."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from services.mcp_facade.sessions import MAX_SESSION_ID_CHARS, SessionCodec, SessionError, SessionStore
from services.mcp_facade.state import MemoryState


def test_issued_session_verifies_with_its_claims() -> None:
    """A fresh id verifies on any codec with the same secret and carries the negotiated data."""
    session_id, _ = SessionCodec(b"k", 60).issue(
        "mcp_1", "2025-06-18", {"roots": {}, "tasks": {"list": {}}}, {"name": "c", "version": "1"}, now=1000
    )
    session = SessionCodec(b"k", 60).verify(session_id, "mcp_1", now=1010)
    assert session.protocol_version == "2025-06-18"
    assert session.client_capabilities == {"tasks": {}}  # only the capabilities the server acts on
    assert session.client_name == "c"
    assert session.expires_at == 1060


@pytest.mark.parametrize("mutate", ["secret", "server", "expired", "tamper", "shape"])
def test_invalid_sessions_are_rejected(mutate: str) -> None:
    """Another secret, another server, expiry, a changed payload or a bad shape all fail."""
    codec = SessionCodec(b"k", 60)
    session_id, _ = codec.issue("mcp_1", "2025-11-25", {}, {}, now=1000)
    prefix, payload, signature = session_id.split(".")
    checks = {
        "secret": lambda: SessionCodec(b"other", 60).verify(session_id, "mcp_1", now=1001),
        "server": lambda: codec.verify(session_id, "mcp_2", now=1001),
        "expired": lambda: codec.verify(session_id, "mcp_1", now=1061),
        "tamper": lambda: codec.verify(f"{prefix}.{payload[:-1]}A.{signature}", "mcp_1", now=1001),
        "shape": lambda: codec.verify("s1.onlytwo", "mcp_1", now=1001),
    }
    with pytest.raises(SessionError):
        checks[mutate]()


async def test_ended_session_is_rejected_and_level_is_per_session() -> None:
    """end() makes a session unusable; set_level() is remembered per session; verify() stays pure."""
    codec = SessionCodec(b"k", 60)
    store = SessionStore(codec, MemoryState())
    first_id, first = codec.issue("mcp_1", "2025-11-25", {}, {})
    second_id, second = codec.issue("mcp_1", "2025-11-25", {}, {})
    await store.set_level(first, "debug")
    assert (await store.level(first), await store.level(second), await store.level(None)) == (
        "debug",
        None,
        None,
    )
    assert (await store.open(first_id, "mcp_1"))[1] == "debug"
    await store.end(first)
    with pytest.raises(SessionError, match="ended"):
        await store.open(first_id, "mcp_1")
    assert codec.verify(first_id, "mcp_1").nonce == first.nonce  # the signature alone is still valid
    assert (await store.open(second_id, "mcp_1"))[0].nonce == second.nonce


@pytest.mark.parametrize("name", ["n" * 5000, "\U0001f600" * 5000, "\x00" * 300])
def test_a_huge_client_info_or_capabilities_make_a_small_session_id(name: str) -> None:
    """Only the used capability flags and a cut client name are signed: the id stays small."""
    info = {"name": name, "version": "9" * 500, "description": "d" * 6500}
    caps = {"tasks": {"requests": {"x": "y" * 4000}}, "experimental": {"blob": "z" * 20_000}}
    codec = SessionCodec(b"k", 60)
    session_id, issued = codec.issue("mcp_1", "2025-11-25", caps, info)
    assert len(session_id) <= MAX_SESSION_ID_CHARS
    session = codec.verify(session_id, "mcp_1")
    assert session.client_capabilities == {"tasks": {}} == issued.client_capabilities
    assert session.client_name == issued.client_name
    assert session.client_name in ("", name[:64])


def test_ids_issued_with_whole_capabilities_still_verify() -> None:
    """A session id signed before the claims were trimmed (cc/ci claims) keeps its tasks flag."""
    claims = {"n": "nonce", "s": "mcp_1", "v": "2025-11-25", "iat": 1000, "exp": 2000}
    claims |= {"cc": {"tasks": {"list": {}}, "roots": {}}, "ci": {"name": "old"}}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    digest = hmac.new(b"k", payload.encode(), hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    session = SessionCodec(b"k", 60).verify(f"s1.{payload}.{signature}", "mcp_1", now=1500)
    assert session.client_capabilities == {"tasks": {}}


def test_elicitation_is_kept_only_when_the_client_takes_forms() -> None:
    """The server asks with forms: {} (2025-06-18) or {"form": ...} count, url-only does not."""
    codec = SessionCodec(b"k", 60)
    for declared, kept in (({}, True), ({"form": {}, "url": {}}, True), ({"url": {}}, False), (None, False)):
        caps = {} if declared is None else {"elicitation": declared}
        _, session = codec.issue("mcp_1", "2025-11-25", caps, {}, now=1000)
        assert ("elicitation" in session.client_capabilities) is kept, declared
