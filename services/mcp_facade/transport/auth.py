"""Who is calling: URL token -> server scope, and the optional API-token second factor.

Resolutions are cached for `token_cache_ttl_s` (keyed by a hash of the token, never
the token itself) and dropped as soon as the token service's WatchRevocations stream
reports the record changed. The watch reconnects with backoff; on every (re)connect
the cache is cleared, since events may have been missed while it was down. The server's
planned recycling of a connection (its max connection age) is logged at INFO and
reconnected at once; any other break is a WARNING.

Failures: `NotFound` (unknown, malformed, expired, revoked: indistinguishable on
purpose), `Unauthorized` (second factor missing or wrong), `BackendUnavailable`
(token service down or too slow).

Listeners (`add_listener`) learn what each event means for work already running
(live.py cuts it): a record DELETED or EXPIRED, or its expiry seen on a cache hit, is
final; a token whose own expiry (rotation grace) passed is final for that token only;
UPDATED, ROTATED and a (re)connected watch mean "re-check the tokens in use".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Final

import grpc

from gumloop_mcp.runtime import (
    SYSTEM_CLOCK,
    Clock,
    TokenKind,
    is_caller_refusal,
    is_planned_reconnect,
    is_well_formed,
)
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from gumloop_mcp.tokens.v1.tokens_service_pb2_grpc import TokenServiceStub

from ..contracts import ServerScope
from ..protocol.live import SecondFactor, token_key

__all__ = ["BackendUnavailable", "NotFound", "Resolved", "Revocation", "TokenResolver", "Unauthorized"]

logger = logging.getLogger(__name__)

# Verified API tokens are trusted this long (revocation events drop them sooner).
_API_TOKEN_TTL_S: Final = 30.0
_BACKOFF_MIN_S: Final = 0.2
_BACKOFF_MAX_S: Final = 10.0


class NotFound(Exception):
    """The URL token does not resolve."""


class Unauthorized(Exception):
    """The record requires an API token and the request has none or a bad one."""


class BackendUnavailable(Exception):
    """The token service could not answer."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """A resolved URL token."""

    scope: ServerScope
    require_api_token: bool
    # Wall-clock end of this token's validity (0 = none).
    token_expires_at: float
    # Wall-clock end of the record itself (0 = none); token_expires_at may be sooner (rotation grace).
    server_expires_at: float = 0.0
    # The API token that passed the second factor for this request (None when none was asked).
    second_factor: SecondFactor | None = None
    # Every request needs an OAuth access token for this record (oauth/; takes precedence).
    require_oauth: bool = False


@dataclass(frozen=True, slots=True)
class Revocation:
    """What a revocation event (or an expiry seen on a cache hit) means for work already running.

    `final` with `server_id`: the record is gone, cut its work. `final` with `token_key`: that
    token stopped resolving, cut what it opened. `final` with `api_token_id`: that second-factor
    API token was revoked or expired, cut what was opened with it. Not final: the record
    (`server_id`, or every record when empty) may have changed, re-check the tokens in use.
    """

    server_id: str = ""
    token_key: str = ""
    api_token_id: str = ""
    final: bool = False
    # Seen by this replica's clock on a cache hit, not told by the token service: cut what is open,
    # but do not condemn the record (its expiry may have been extended meanwhile).
    local: bool = False


class TokenResolver:
    """Cached ResolveToken / VerifyApiToken with revocation-driven invalidation."""

    def __init__(
        self,
        stub: TokenServiceStub,
        *,
        ttl_s: float,
        max_size: int,
        deadline_s: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._stub = stub
        self._clock = clock
        self._ttl_s = ttl_s
        self._max_size = max_size
        self._deadline_s = deadline_s
        self._cache: OrderedDict[str, tuple[float, Resolved]] = OrderedDict()
        self._api_cache: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self._watch_task: asyncio.Task[None] | None = None
        # Bumped by every invalidation, so a resolution that raced one is not cached.
        self._generation = 0
        self._api_generation = 0
        # Set each time the watch (re)connects, for tests and readiness.
        self.watch_live = asyncio.Event()
        self._listeners: list[Callable[[Revocation], None]] = []

    def add_listener(self, listener: Callable[[Revocation], None]) -> None:
        """Call `listener` with every revocation (synchronously, from the watch or a request)."""
        self._listeners.append(listener)

    def _notify(self, revocation: Revocation) -> None:
        for listener in self._listeners:
            try:
                listener(revocation)
            except Exception:  # a failing listener must not break the watch
                logger.exception("revocation listener failed")

    async def resolve(self, token: str) -> Resolved:
        """The scope of a URL token, or NotFound / BackendUnavailable."""
        if not is_well_formed(token, TokenKind.MCP_URL):
            raise NotFound
        key = token_key(token)
        now = self._clock.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            resolved = cached[1]
            wall = self._clock.time()
            if resolved.server_expires_at and resolved.server_expires_at <= wall:
                self._cache.pop(key, None)
                self._notify(Revocation(server_id=resolved.scope.server_id, final=True, local=True))
                raise NotFound
            if resolved.token_expires_at and resolved.token_expires_at <= wall:
                self._cache.pop(key, None)
                self._notify(Revocation(token_key=key, final=True))
                raise NotFound
            return resolved
        generation = self._generation
        try:
            reply = await self._stub.ResolveToken(
                pb.ResolveTokenRequest(token=token), timeout=self._deadline_s
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound from None
            logger.warning("token service ResolveToken failed: %s", exc.code().name)
            raise BackendUnavailable from None
        record = reply.mcp_server
        # Timestamps are UTC: ToDatetime() alone is naive, and .timestamp() would read it as local time.
        server_expires = 0.0
        if record.HasField("expire_time"):
            server_expires = record.expire_time.ToDatetime(tzinfo=UTC).timestamp()
        expires = server_expires
        if reply.HasField("token_expire_time"):
            expires = reply.token_expire_time.ToDatetime(tzinfo=UTC).timestamp()
        resolved = Resolved(
            scope=ServerScope(
                server_id=record.id,
                account_id=record.account_id,
                name=record.name,
                methods=tuple(record.config.methods),
                tags=tuple(record.config.tags),
                tool_exposure=record.config.tool_exposure,
                context_budget_tokens=record.config.context_budget_tokens,
                audit_payloads=record.config.audit_payloads,
                oauth_allowed_emails=tuple(record.config.oauth_allowed_emails),
                oauth_allowed_domains=tuple(record.config.oauth_allowed_domains),
                oauth_allowed_groups=tuple(record.config.oauth_allowed_groups),
            ),
            require_api_token=record.require_api_token_auth,
            token_expires_at=expires,
            server_expires_at=server_expires,
            require_oauth=record.require_oauth,
        )
        if generation != self._generation:
            return resolved  # answered before a revocation we have since seen: use once, do not cache
        self._cache[key] = (now + self._ttl_s, resolved)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_size:
            self._cache.popitem(last=False)
        return resolved

    async def verify_api_token(self, authorization: str | None, account_id: str) -> SecondFactor:
        """Check `Authorization: Bearer <api token>` for an MCP client of the account `account_id`."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized
        token = authorization[7:].strip()
        if not is_well_formed(token, TokenKind.API):
            raise Unauthorized
        key = (token_key(token), account_id)
        now = self._clock.monotonic()
        cached = self._api_cache.get(key)
        if cached is not None and cached[0] > now:
            return SecondFactor(cached[1], account_id, authorization)
        request = pb.VerifyApiTokenRequest(
            token=token, purpose=pb.API_TOKEN_PURPOSE_MCP_CLIENT, account_id=account_id
        )
        generation = self._api_generation
        try:
            reply = await self._stub.VerifyApiToken(request, timeout=self._deadline_s)
        except grpc.aio.AioRpcError as exc:
            if is_caller_refusal(exc):
                logger.error("the token service refused the façade's caller token (check its configuration)")
                raise BackendUnavailable from None
            if exc.code() in (
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.UNAUTHENTICATED,
            ):
                raise Unauthorized from None
            logger.warning("token service VerifyApiToken failed: %s", exc.code().name)
            raise BackendUnavailable from None
        ttl = min(self._ttl_s, _API_TOKEN_TTL_S)
        if reply.api_token.HasField("expire_time"):
            # Never trusted past its own expiry, even if the expiry event is late or lost.
            ttl = min(
                ttl, reply.api_token.expire_time.ToDatetime(tzinfo=UTC).timestamp() - self._clock.time()
            )
        if generation != self._api_generation or ttl <= 0:
            # A revocation arrived meanwhile, or it is about to expire: valid once, not cached.
            return SecondFactor(str(reply.api_token.id), account_id, authorization)
        self._api_cache[key] = (now + ttl, reply.api_token.id)
        while len(self._api_cache) > self._max_size:
            self._api_cache.popitem(last=False)
        return SecondFactor(str(reply.api_token.id), account_id, authorization)

    def drop_server(self, server_id: str) -> None:
        """Forget every cached resolution of a record."""
        self._generation += 1
        for key in [k for k, (_, r) in self._cache.items() if r.scope.server_id == server_id]:
            del self._cache[key]

    def drop_api_token(self, api_token_id: str) -> None:
        """Forget a verified API token (all of them when the id is empty)."""
        self._api_generation += 1
        for key in [k for k, (_, tid) in self._api_cache.items() if not api_token_id or tid == api_token_id]:
            del self._api_cache[key]

    def witness(self, revocation: Revocation) -> None:
        """Apply a change this replica made itself (the management API) before the watch reports it.

        The delete, update, rotation or API-token revocation answered here takes effect here at
        once, not when the token service's event arrives; other replicas learn it from the watch.
        The event still follows and is applied again, which drops nothing more and re-checks again.
        """
        if revocation.api_token_id:
            self.drop_api_token(revocation.api_token_id)
        if revocation.server_id:
            self.drop_server(revocation.server_id)
        self._notify(revocation)

    def clear(self) -> None:
        """Forget everything."""
        self._generation += 1
        self._api_generation += 1
        self._cache.clear()
        self._api_cache.clear()

    def start(self) -> None:
        """Start the background revocation watch."""
        if self._watch_task is None:
            self._watch_task = asyncio.create_task(self._watch(), name="revocation-watch")

    async def stop(self) -> None:
        """Stop the revocation watch."""
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
            self._watch_task = None

    async def _watch(self) -> None:
        backoff = _BACKOFF_MIN_S
        while True:
            try:
                call = self._stub.WatchRevocations(pb.WatchRevocationsRequest())
                async for event in call:
                    backoff = _BACKOFF_MIN_S
                    self._apply(event)
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                if is_planned_reconnect(exc):
                    # The token service recycles every connection after its max age (a GOAWAY, then
                    # the stream is ended): routine, so not a WARNING, and reconnected without delay.
                    logger.info("revocation watch: the token service recycled the connection; reconnecting")
                    backoff = 0.0
                else:
                    logger.warning("revocation watch broken (%s); reconnecting", exc.code().name)
            except Exception:
                logger.exception("revocation watch failed; reconnecting")
            self.watch_live.clear()
            # Events may be lost while disconnected: serve nothing stale.
            self.clear()
            await asyncio.sleep(backoff)
            backoff = min(max(backoff * 2, _BACKOFF_MIN_S), _BACKOFF_MAX_S)

    def _apply(self, event: pb.WatchRevocationsResponse) -> None:
        if event.kind == pb.REVOCATION_KIND_UNSPECIFIED:
            # The first message: the watch is live; anything cached before may be stale.
            self.clear()
            self.watch_live.set()
            logger.info("revocation watch live")
            self._notify(Revocation())  # events may have been missed: re-check what is open
        elif event.kind == pb.REVOCATION_KIND_API_TOKEN_REVOKED:
            self.drop_api_token(event.api_token_id)
            if event.api_token_id:
                self._notify(Revocation(api_token_id=event.api_token_id, final=True))
        else:
            self.drop_server(event.mcp_server_id)
            final = event.kind in (pb.REVOCATION_KIND_DELETED, pb.REVOCATION_KIND_EXPIRED)
            self._notify(Revocation(server_id=event.mcp_server_id, final=final))
