"""WatchRevocations gives its hub subscription back however the stream ends."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from services.tokens.catalog_client import ProxyClient
from services.tokens.revocations import RevocationHub
from services.tokens.servicer import TokenServicer
from services.tokens.settings import TokenSettings
from services.tokens.store import RevocationEvent, RevocationKind, TokenStore


class _Context:
    """Just enough of a grpc.aio.ServicerContext for a watch that never aborts."""

    async def abort(self, code: Any, details: str) -> None:
        raise AssertionError(f"unexpected abort {code}: {details}")


def _servicer(hub: RevocationHub, tmp_path: Path) -> TokenServicer:
    settings = TokenSettings(data_dir=tmp_path, pepper="unit-test-pepper-0123456789")
    # The watch touches neither the store nor the proxy.
    return TokenServicer(settings, cast(TokenStore, None), hub, cast(ProxyClient, None), b"pepper", time.time)


async def test_a_watch_closed_before_its_first_message_unsubscribes(tmp_path: Path) -> None:
    """Closing the stream while it waits at the live-marker (the client left before reading it)
    leaves no subscription in the hub; it used to stay until the queue overflowed."""
    hub = RevocationHub()
    stream = _servicer(hub, tmp_path).WatchRevocations(pb.WatchRevocationsRequest(), _Context())
    first = await anext(stream)  # type: ignore[call-overload]
    assert first.kind == pb.RevocationKind.REVOCATION_KIND_UNSPECIFIED
    assert hub.subscriber_count == 1
    await stream.aclose()  # type: ignore[attr-defined]
    assert hub.subscriber_count == 0


async def test_a_watch_closed_after_events_unsubscribes(tmp_path: Path) -> None:
    """A stream closed after relaying an event leaves no subscription either."""
    hub = RevocationHub()
    stream = _servicer(hub, tmp_path).WatchRevocations(pb.WatchRevocationsRequest(), _Context())
    await anext(stream)  # type: ignore[call-overload]
    hub.publish(RevocationEvent(RevocationKind.DELETED, mcp_server_id="mcp_x"))
    event = await anext(stream)  # type: ignore[call-overload]
    assert (event.kind, event.mcp_server_id) == (pb.RevocationKind.REVOCATION_KIND_DELETED, "mcp_x")
    await stream.aclose()  # type: ignore[attr-defined]
    assert hub.subscriber_count == 0
