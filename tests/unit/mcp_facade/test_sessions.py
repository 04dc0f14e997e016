"""Signed session ids."""

from __future__ import annotations

import pytest

from services.mcp_facade.sessions import SessionCodec, SessionError, SessionStore
from services.mcp_facade.state import MemoryState


def test_issued_session_verifies_with_its_claims() -> None:
    """A fresh id verifies on any codec with the same secret and carries the negotiated data."""
    session_id, _ = SessionCodec(b"k", 60).issue(
        "mcp_1", "2025-06-18", {"roots": {}}, {"name": "c"}, now=1000
    )
    session = SessionCodec(b"k", 60).verify(session_id, "mcp_1", now=1010)
    assert session.protocol_version == "2025-06-18"
    assert session.client_capabilities == {"roots": {}}
    assert session.client_info == {"name": "c"}
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
