"""The per-app emulator context handlers reach through ``request.app[EMU]``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gumloop_mcp.emulator import signing
from gumloop_mcp.emulator.clock import Clock
from gumloop_mcp.emulator.errors import ApiError, bad_request
from gumloop_mcp.emulator.faults import Faults
from gumloop_mcp.emulator.oauth import OAuthServer
from gumloop_mcp.emulator.plans import concurrency
from gumloop_mcp.emulator.seed import seed
from gumloop_mcp.emulator.settings import EmulatorSettings
from gumloop_mcp.emulator.store import Store


@dataclass
class Emulator:
    """Settings, clock, state, the OAuth server, faults and the request log of one emulator."""

    settings: EmulatorSettings
    clock: Clock
    store: Store = field(init=False)
    oauth: OAuthServer = field(init=False)
    faults: Faults = field(default_factory=Faults)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Fresh (re)seeded state, no OAuth clients or grants, no faults, empty request log."""
        s = self.settings
        self.oauth = OAuthServer(s.oauth_access_token_ttl_s)
        self.store = Store(s.user_id, s.team_id, s.time_scale, concurrency(s.plan, s.max_concurrent_runs))
        if s.seed:
            seed(self.store, self.clock.now())
        self.faults.clear()
        self.requests.clear()

    def now(self) -> float:
        """Emulated time, after letting due objects progress."""
        now = self.clock.now()
        self.store.advance(now)
        return now

    def signed_url(self, request: web.Request, blob_id: str) -> str:
        """An expiring link to a blob, on the base URL the caller reached us by; 502 signing_failed when the
        stored file is gone (Gumloop answers 502 when it cannot sign a download URL)."""
        blob = self.store.blobs.get(blob_id)
        if blob is None:
            raise ApiError(
                502, "signing_failed", "Could not sign a download URL for this file", type_="api_error"
            )
        base = self.settings.public_base_url or f"{request.scheme}://{request.host}"
        return signing.sign_url(
            base,
            self.settings.signing_key,
            blob.id,
            blob.filename,
            now=self.clock.now(),
            ttl_s=self.settings.signed_url_ttl_s,
        )


EMU = web.AppKey("emu", Emulator)


def emu(request: web.Request) -> Emulator:
    """The emulator behind ``request``, with state advanced to now."""
    e = request.app[EMU]
    e.now()
    return e


async def json_body(request: web.Request) -> dict[str, Any]:
    """The JSON object body; {} when empty; 400 when not a JSON object."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: a nesting bomb
        raise bad_request("request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


def required(source: dict[str, Any] | Any, name: str) -> Any:
    """A required parameter; 400 naming it when absent or empty."""
    value = source.get(name)
    if value is None or value == "":
        raise bad_request(f"{name} is required", param=name)
    return value
