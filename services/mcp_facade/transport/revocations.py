"""Revocations reach work already running: the token resolver's listener cuts the streams, calls
and tasks (live.py) of a revoked or expired record at once, and re-checks the tokens in use when a
record changed or the watch reconnected.

Work opened with an OAuth grant is held under it; revoking the grant is broadcast through the
shared state and every replica cuts that work. When a record changed (UPDATED), the grants behind
its open work are checked against its fresh allowed set (oauth/: identity-provider grants): a
person removed from it has the grant revoked and that work cut on every replica (each also sees the
event itself), within the event's delivery, not at the person's next request.

A token in use that stops resolving at a known time (a rotation's grace end, which the token
service deletes without an event) has its work cut then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

from gumloop_mcp.runtime import SYSTEM_CLOCK, Clock

from ..contracts import ServerScope
from ..oauth import OAUTH_REVOKED_MESSAGE, OAuthService, is_oauth_factor, oauth_factor_id
from ..oauth.store import StoreUnavailable as OAuthStoreUnavailable
from ..protocol.live import LiveWork, SecondFactor
from ..state.state import FacadeState, StateUnavailable
from .auth import BackendUnavailable, NotFound, Revocation, TokenResolver, Unauthorized

__all__ = ["Revocations"]

logger = logging.getLogger(__name__)

# Tokens re-checked at once after a record changed or the watch reconnected.
_RECHECK_CONCURRENCY: Final = 16
# The message that tells every replica a grant was revoked (oauth/): each cuts what it holds of it.
_GRANT_REVOKED: Final = "oauth-grant-revoked"


class Revocations:
    """Cuts open work when what authorised it is revoked (token resolver listener, grant revocations)."""

    def __init__(
        self,
        live: LiveWork,
        resolver: TokenResolver,
        oauth: OAuthService,
        state: FacadeState,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._live = live
        self._clock = clock
        self._resolver = resolver
        self._oauth = oauth
        self._state = state
        # One re-check at a time per scope ("" = every record, else a record id): a burst of events
        # for one record runs one re-check now and at most one more after it, not one per event.
        self._rechecks: dict[str, asyncio.Task[None]] = {}
        self._recheck_again: set[str] = set()
        # Tokens in use that stop resolving at a known time (a rotation's grace end), which the
        # token service deletes without an event: cut what they opened then.
        self._token_ends: dict[str, asyncio.TimerHandle] = {}
        oauth.on_revoked(self._grant_revoked)
        state.on_message(_GRANT_REVOKED, self._on_grant_revoked)
        resolver.add_listener(self.on_revocation)

    def on_revocation(self, revocation: Revocation) -> None:
        """Cut (or re-check) the open work a revocation concerns (token resolver listener)."""
        if revocation.final:
            if revocation.api_token_id:
                self._live.cut_api_token(revocation.api_token_id)
            elif revocation.server_id:
                self._live.cut_server(revocation.server_id, remember=not revocation.local)
            elif revocation.token_key:
                self._live.cut_token(revocation.token_key)
            return
        key = revocation.server_id
        if key in self._rechecks:
            self._recheck_again.add(key)  # what it read may predate this event: once more after it
        elif self._live.tokens(key or None) or (not key and self._live.second_factors()):
            self._rechecks[key] = asyncio.create_task(self._rechecks_of(key), name="revocation-recheck")

    async def _grant_revoked(self, grant_id: str) -> None:
        try:
            await self._state.broadcast({"kind": _GRANT_REVOKED, "grant_id": grant_id})
        except StateUnavailable:
            # Not told to the others: they cut it at their next re-check (a watch reconnect); new
            # requests with its tokens are refused everywhere at once anyway (they read the store).
            self._live.cut_api_token(oauth_factor_id(grant_id), OAUTH_REVOKED_MESSAGE)

    def _on_grant_revoked(self, message: dict[str, Any]) -> None:
        self._live.cut_api_token(oauth_factor_id(str(message.get("grant_id", ""))), OAUTH_REVOKED_MESSAGE)

    async def _rechecks_of(self, key: str) -> None:
        """Re-check the tokens in use of one record (or of all when `key` is ""), again while asked."""
        try:
            while True:
                self._recheck_again.discard(key)
                tokens = self._live.tokens(key or None)
                # Every record (the watch reconnected, events may be lost): API token revocations too;
                # one record (it changed): its grants, whose person may have left its allowed set.
                if key:
                    factors = {i: f for i, f in self._live.second_factors(key).items() if is_oauth_factor(i)}
                else:
                    factors = self._live.second_factors()
                await self._recheck(tokens, factors)
                if key not in self._recheck_again:
                    return
        finally:
            self._rechecks.pop(key, None)

    async def _recheck(self, tokens: dict[str, str], factors: dict[str, SecondFactor]) -> None:
        """Cut what was opened with a token that no longer resolves (a rotation without grace, ...),
        or with a second-factor API token that no longer verifies, or with an OAuth grant that ended
        or whose person the record's current allowed set no longer admits."""
        limit = asyncio.Semaphore(_RECHECK_CONCURRENCY)
        # The fresh config of each record a token resolved to (its allowed set, for its grants).
        scopes: dict[str, ServerScope] = {}

        async def check(key: str, token: str) -> None:
            async with limit:
                try:
                    resolved = await self._resolver.resolve(token)
                except NotFound:
                    self._live.cut_token(key)
                    return
                except BackendUnavailable:
                    return  # unknown: keep it; the next request re-authorises anyway
                scopes[resolved.scope.server_id] = resolved.scope
                ends = resolved.token_expires_at
                if ends and ends != resolved.server_expires_at:
                    self._cut_token_at(key, ends)

        async def verify(factor: SecondFactor) -> None:
            async with limit:
                if is_oauth_factor(factor.id):
                    # Store down: unknown, keep it; the next request checks its access token anyway.
                    with contextlib.suppress(OAuthStoreUnavailable):
                        await self._verify_grant(factor.id, scopes)
                    return
                try:
                    await self._resolver.verify_api_token(factor.authorization, factor.account_id)
                except Unauthorized:
                    self._live.cut_api_token(factor.id)
                except BackendUnavailable:
                    return  # unknown: keep it; the next request verifies it anyway

        # Tokens first: their resolutions carry the records' current allowed sets the grants need.
        await asyncio.gather(*(check(k, t) for k, t in tokens.items()))
        await asyncio.gather(*(verify(f) for f in factors.values()))

    async def _verify_grant(self, factor_id: str, scopes: dict[str, ServerScope]) -> None:
        """Cut the work of a grant that ended; revoke (and so cut everywhere) one whose person the
        record's fresh allowed set (`scopes`, when a token of the record resolved) no longer admits."""
        grant = await self._oauth.grant(factor_id.partition(":")[2])
        if grant is None:
            self._live.cut_api_token(factor_id, OAUTH_REVOKED_MESSAGE)
            return
        scope = scopes.get(grant.server_id)
        if scope is not None and not grant.allowed_on(scope):
            logger.info("oauth: %s is no longer allowed on server %s", grant.subject, grant.server_id)
            self._live.cut_api_token(factor_id, OAUTH_REVOKED_MESSAGE)
            await self._oauth.revoke_grant(grant.id)  # broadcast: the other replicas cut it too

    def _cut_token_at(self, key: str, ends: float) -> None:
        previous = self._token_ends.pop(key, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._token_ends[key] = loop.call_later(max(0.0, ends - self._clock.time()), self._token_ended, key)

    def _token_ended(self, key: str) -> None:
        self._token_ends.pop(key, None)
        self._live.cut_token(key)

    async def close(self) -> None:
        """Stop the re-checks and the token-end timers (shutdown)."""
        for task in list(self._rechecks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for timer in self._token_ends.values():
            timer.cancel()
        self._token_ends.clear()
