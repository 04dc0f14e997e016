"""The TokenService servicer: validates requests, talks to the store and the proxy, maps errors once.

Every unary handler runs inside `_edge`, the single place where `errors.TokenServiceError` becomes a
gRPC status. Raw tokens exist only in the create/rotate responses and in the caller's requests; they
are hashed with the pepper at once and never logged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, TypeVar

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge

from gumloop_mcp.runtime import (
    TokenKind,
    generate_token,
    hash_token,
    is_well_formed,
    token_prefix,
    tokens_equal,
)
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as pb_grpc

from . import validation as v
from .catalog_client import ProxyClient
from .convert import api_token_message, event_message, server_message, timestamp
from .errors import (
    Aborted,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
    TokenServiceError,
    Violation,
    to_status,
)
from .revocations import RevocationHub, SubscriptionClosed
from .settings import TokenSettings
from .store import (
    ApiTokenRecord,
    Clock,
    RevocationEvent,
    RevocationKind,
    ScopeChanged,
    ServerRecord,
    ServerUpdate,
    TokenStore,
    new_id,
)

__all__ = ["TokenMetrics", "TokenServicer"]

logger = logging.getLogger(__name__)

R = TypeVar("R")

_UPDATABLE: Final = frozenset(
    {
        "name",
        "config",
        "config.methods",
        "config.tags",
        "config.tool_exposure",
        "config.context_budget_tokens",
        "config.audit_payloads",
        "config.oauth_allowed_emails",
        "config.oauth_allowed_domains",
        "config.oauth_allowed_groups",
        "expire_time",
        "require_api_token_auth",
        "require_oauth",
    }
)
# A partial scope update is validated again when the other half moved meanwhile; only a record whose
# scope is being rewritten this often without pause runs out.
_UPDATE_ATTEMPTS: Final = 5
# One message for every token that does not resolve, so callers cannot probe which case applied.
_NO_SUCH_TOKEN: Final = "token does not resolve (unknown, malformed, expired or revoked)"
_VALID_PURPOSES: Final = frozenset(
    {pb.ApiTokenPurpose.API_TOKEN_PURPOSE_MCP_CLIENT, pb.ApiTokenPurpose.API_TOKEN_PURPOSE_MANAGEMENT}
)


class TokenMetrics:
    """ResolveToken outcomes, store failures by RPC, and open revocation watches.

    Labels are fixed words and the servicer's own method names: never a token, hash or id.
    """

    OUTCOMES: Final = ("ok", "not_found", "malformed")

    def __init__(self, registry: CollectorRegistry, hub: RevocationHub) -> None:
        self.resolves = Counter(
            "gmcp_tokens_resolve",
            "ResolveToken outcomes: ok, not_found (unknown, expired, revoked), malformed (fails the format).",
            ["outcome"],
            registry=registry,
        )
        for outcome in self.OUTCOMES:
            self.resolves.labels(outcome)
        self.store_errors = Counter(
            "gmcp_tokens_store_errors",
            "Calls answered UNAVAILABLE because the store (SQLite or Redis) failed, by RPC.",
            ["method"],
            registry=registry,
        )
        self.watchers = Gauge(
            "gmcp_tokens_revocation_watchers",
            "Open WatchRevocations streams on this replica.",
            registry=registry,
        )
        self.watchers.set_function(lambda: hub.subscriber_count)


def _edge(
    handler: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]:
    """Turn TokenServiceError into the matching gRPC status (the one mapping point); anything else
    is INTERNAL with a generic message (and logged)."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await handler(self, request, context)
        except TokenServiceError as error:
            metrics: TokenMetrics | None = getattr(self, "_metrics", None)
            if isinstance(error, StoreUnavailable) and metrics is not None:
                metrics.store_errors.labels(handler.__name__).inc()
            await context.abort_with_status(to_status(error))
            raise AssertionError("abort_with_status returned") from error  # pragma: no cover
        except (grpc.aio.AbortError, grpc.aio.UsageError, asyncio.CancelledError):
            raise
        except Exception:
            # Left alone, grpc.aio answers UNKNOWN with "Unexpected <class>: <message>": internals
            # (paths, store errors) for any caller to read. The log keeps them; the caller gets less.
            logger.exception("unexpected error in %s", handler.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error in the token service")
            raise AssertionError("abort returned") from None  # pragma: no cover

    return wrapper


def _raise_if(violations: list[Violation]) -> None:
    if violations:
        raise InvalidArgument(violations)


def _server_not_found(server_id: str) -> NotFound:
    return NotFound(f"MCP server {server_id!r} does not exist", resource_type="mcp_server", name=server_id)


class TokenServicer(pb_grpc.TokenServiceServicer):
    """Implements gumloop_mcp.tokens.v1.TokenService over a TokenStore."""

    def __init__(
        self,
        settings: TokenSettings,
        store: TokenStore,
        hub: RevocationHub,
        proxy: ProxyClient,
        pepper: bytes,
        clock: Clock,
        metrics: TokenMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._store = store
        self._hub = hub
        self._proxy = proxy
        self._pepper = pepper
        self._clock = clock

    def _expiry(self, field: str, message: Any, now: float) -> tuple[float | None, list[Violation]]:
        present = message.HasField("expire_time")
        return v.check_expiry(
            field, message.expire_time if present else None, now, self._settings.min_expiry_lead_s
        )

    async def _check_scope(self, field: str, methods: list[str], tags: list[str]) -> None:
        _raise_if(v.check_scope_against_catalog(field, methods, tags, await self._proxy.operations()))

    # -- MCP servers ------------------------------------------------------------------------------

    @_edge
    async def CreateMcpServer(
        self, request: pb.CreateMcpServerRequest, context: Any
    ) -> pb.CreateMcpServerResponse:
        """Validate, check the account and the scope with the proxy, store the hash, return the token once."""
        given = request.mcp_server
        now = self._clock()
        methods = v.normalize_list(given.config.methods)
        tags = v.normalize_list(given.config.tags)
        expire, violations = self._expiry("mcp_server.expire_time", given, now)
        violations = (
            v.check_name("mcp_server.name", given.name)
            + v.check_id("mcp_server.account_id", given.account_id)
            + v.check_scope_shape("mcp_server.config", methods, tags)
            + v.check_exposure(
                "mcp_server.config", given.config.tool_exposure, given.config.context_budget_tokens
            )
            + v.check_second_factor("mcp_server", given.require_api_token_auth, given.require_oauth)
            + violations
        )
        consent, consent_violations = v.normalize_consent(given.config)
        violations += consent_violations
        _raise_if(violations)
        await self._check_scope("mcp_server.config", methods, tags)
        await self._proxy.require_account(given.account_id, "mcp_server.account_id")
        token = generate_token(TokenKind.MCP_URL)
        record = ServerRecord(
            id=new_id("mcp_"),
            name=given.name.strip(),
            account_id=given.account_id,
            methods=v.unique(methods),
            tags=v.unique(tags),
            expire_time=expire,
            require_api_token_auth=given.require_api_token_auth,
            create_time=now,
            update_time=now,
            last_used_time=None,
            token_prefix=token_prefix(token),
            tool_exposure=given.config.tool_exposure,
            context_budget_tokens=given.config.context_budget_tokens,
            audit_payloads=given.config.audit_payloads,
            require_oauth=given.require_oauth,
            **consent,
        )
        await self._store.create_server(record, hash_token(token, self._pepper))
        logger.info("created mcp server %s for account %s", record.id, record.account_id)
        return pb.CreateMcpServerResponse(mcp_server=server_message(record), token=token)

    async def _live_server(self, server_id: str) -> ServerRecord:
        _raise_if(v.check_id("id", server_id))
        record = await self._store.get_server(server_id)
        if record is None:
            raise _server_not_found(server_id)
        return record

    @_edge
    async def GetMcpServer(self, request: pb.GetMcpServerRequest, context: Any) -> pb.GetMcpServerResponse:
        """One live record."""
        return pb.GetMcpServerResponse(mcp_server=server_message(await self._live_server(request.id)))

    @_edge
    async def ListMcpServers(
        self, request: pb.ListMcpServersRequest, context: Any
    ) -> pb.ListMcpServersResponse:
        """A newest-first page of one account's records."""
        size, violations = v.check_page_size("page_size", request.page_size)
        _raise_if(v.check_id("account_id", request.account_id) + violations)
        after = v.decode_page_token("page_token", "mcp", request.account_id, request.page_token)
        records, cursor = await self._store.list_servers(request.account_id, size, after)
        return pb.ListMcpServersResponse(
            mcp_servers=[server_message(r) for r in records],
            next_page_token=v.encode_page_token("mcp", request.account_id, cursor),
        )

    @_edge
    async def UpdateMcpServer(
        self, request: pb.UpdateMcpServerRequest, context: Any
    ) -> pb.UpdateMcpServerResponse:
        """Apply the fields named by the mask; re-validate what changed."""
        given = request.mcp_server
        paths = list(request.update_mask.paths)
        violations: list[Violation] = [
            (f"update_mask.paths[{i}]", f"{path!r} cannot be updated; use one of {sorted(_UPDATABLE)}")
            for i, path in enumerate(paths)
            if path not in _UPDATABLE
        ]
        if not paths:
            violations.append(("update_mask", "name at least one field to update"))
        _raise_if(v.check_id("mcp_server.id", given.id) + violations)
        for _attempt in range(_UPDATE_ATTEMPTS):
            update = await self._server_update(given, paths)
            try:
                updated = await self._store.update_server(given.id, update)
            except ScopeChanged:
                continue  # the other half of the scope moved meanwhile: validate again with it
            if updated is None:
                raise _server_not_found(given.id)
            return pb.UpdateMcpServerResponse(mcp_server=server_message(updated))
        raise Aborted(f"the scope of MCP server {given.id!r} kept changing concurrently; retry")

    async def _server_update(self, given: pb.McpServer, paths: list[str]) -> ServerUpdate:
        """The validated fields an update sets: only those its mask names (plus update_time), so
        updates of different fields racing each other all land."""
        current = await self._live_server(given.id)
        now = self._clock()
        violations: list[Violation] = []
        changes: dict[str, Any] = {"update_time": now}
        if "name" in paths:
            violations += v.check_name("mcp_server.name", given.name)
            changes["name"] = given.name.strip()
        if "expire_time" in paths:
            expire, expiry_violations = self._expiry("mcp_server.expire_time", given, now)
            violations += expiry_violations
            changes["expire_time"] = expire
        if "require_api_token_auth" in paths:
            changes["require_api_token_auth"] = given.require_api_token_auth
        if "require_oauth" in paths:
            changes["require_oauth"] = given.require_oauth
        if "require_api_token_auth" in paths and "require_oauth" in paths:
            violations += v.check_second_factor(
                "mcp_server", given.require_api_token_auth, given.require_oauth
            )
        if "config" in paths or "config.tool_exposure" in paths:
            violations += v.check_exposure("mcp_server.config", given.config.tool_exposure, 0)
            changes["tool_exposure"] = given.config.tool_exposure
        if "config" in paths or "config.context_budget_tokens" in paths:
            violations += v.check_exposure("mcp_server.config", "", given.config.context_budget_tokens)
            changes["context_budget_tokens"] = given.config.context_budget_tokens
        if "config" in paths or "config.audit_payloads" in paths:
            changes["audit_payloads"] = given.config.audit_payloads
        consent, consent_violations = v.normalize_consent(given.config)
        for part in v.CONSENT_FIELDS:
            if "config" in paths or f"config.{part}" in paths:
                violations += [x for x in consent_violations if x[0].startswith(f"mcp_server.config.{part}")]
                changes[part] = consent[part]
        new_methods = "config" in paths or "config.methods" in paths
        new_tags = "config" in paths or "config.tags" in paths
        if new_methods or new_tags:
            methods = v.normalize_list(given.config.methods) if new_methods else list(current.methods)
            tags = v.normalize_list(given.config.tags) if new_tags else list(current.tags)
            violations += v.check_scope_shape("mcp_server.config", methods, tags)
            _raise_if(violations)
            await self._check_scope("mcp_server.config", list(v.unique(methods)), list(v.unique(tags)))
            # A half left alone was part of what was validated: the store checks it did not move.
            if new_methods:
                changes["methods"] = v.unique(methods)
            else:
                changes["expect_methods"] = current.methods
            if new_tags:
                changes["tags"] = v.unique(tags)
            else:
                changes["expect_tags"] = current.tags
        _raise_if(violations)
        return ServerUpdate(**changes)

    @_edge
    async def DeleteMcpServer(
        self, request: pb.DeleteMcpServerRequest, context: Any
    ) -> pb.DeleteMcpServerResponse:
        """Delete the record and every token hash of it."""
        _raise_if(v.check_id("id", request.id))
        if not await self._store.delete_server(request.id):
            raise _server_not_found(request.id)
        logger.info("deleted mcp server %s", request.id)
        return pb.DeleteMcpServerResponse()

    @_edge
    async def RotateMcpServerToken(
        self, request: pb.RotateMcpServerTokenRequest, context: Any
    ) -> pb.RotateMcpServerTokenResponse:
        """Issue a new token; the old one resolves for the grace period (never past the record's expiry)."""
        grace, violations = v.check_grace(
            "grace_period",
            request.grace_period if request.HasField("grace_period") else None,
            self._settings.max_rotation_grace_s,
        )
        _raise_if(v.check_id("id", request.id) + violations)
        current = await self._live_server(request.id)
        now = self._clock()
        old_until = now + grace
        if current.expire_time is not None:
            old_until = min(old_until, current.expire_time)
        token = generate_token(TokenKind.MCP_URL)
        record = await self._store.rotate_server_token(
            request.id, hash_token(token, self._pepper), token_prefix(token), old_until
        )
        if record is None:
            raise _server_not_found(request.id)
        logger.info("rotated the token of mcp server %s (grace %.0fs)", request.id, grace)
        return pb.RotateMcpServerTokenResponse(
            mcp_server=server_message(record),
            token=token,
            old_token_expire_time=timestamp(max(old_until, now)),
        )

    @_edge
    async def ResolveToken(self, request: pb.ResolveTokenRequest, context: Any) -> pb.ResolveTokenResponse:
        """The hot path: checksum first (no store lookup for typos), then the keyed-hash lookup."""
        if not is_well_formed(request.token, TokenKind.MCP_URL):
            self._resolved("malformed")
            raise NotFound(_NO_SUCH_TOKEN)
        presented = hash_token(request.token, self._pepper)
        resolution = await self._store.resolve(presented, self._settings.last_used_resolution_s)
        # The lookup is by hash; the final equality check is constant-time all the same.
        if resolution is None or not tokens_equal(resolution.stored_hash, presented):
            self._resolved("not_found")
            raise NotFound(_NO_SUCH_TOKEN)
        self._resolved("ok")
        response = pb.ResolveTokenResponse(mcp_server=server_message(resolution.record))
        if resolution.token_expire_time is not None:
            response.token_expire_time.CopyFrom(timestamp(resolution.token_expire_time))
        return response

    def _resolved(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.resolves.labels(outcome).inc()

    async def WatchRevocations(
        self, request: pb.WatchRevocationsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchRevocationsResponse]:
        """A live-marker first, then every revocation until the client leaves or the feed breaks."""
        if not self._hub.live:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "revocation feed is down (store unreachable)")
        # No await between subscribing and entering the try: a watch closed at any yield (the
        # live-marker included, before events() ever ran) gives its subscription back.
        subscription = self._hub.subscribe()
        try:
            yield event_message(RevocationEvent(RevocationKind.UNSPECIFIED, event_time=self._clock()))
            async for event in subscription.events():
                yield event_message(event)
        except SubscriptionClosed as closed:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(closed))
        finally:
            self._hub.unsubscribe(subscription)

    # -- API tokens -------------------------------------------------------------------------------

    @_edge
    async def CreateApiToken(
        self, request: pb.CreateApiTokenRequest, context: Any
    ) -> pb.CreateApiTokenResponse:
        """Validate, check the bound account (if any), store the hash, return the token once."""
        given = request.api_token
        now = self._clock()
        expire, violations = self._expiry("api_token.expire_time", given, now)
        violations += v.check_name("api_token.name", given.name)
        purposes = sorted(set(given.purposes))
        if not purposes:
            violations.append(("api_token.purposes", "name at least one purpose (MCP_CLIENT, MANAGEMENT)"))
        violations += [
            (f"api_token.purposes[{i}]", "is not a valid purpose")
            for i, purpose in enumerate(given.purposes)
            if purpose not in _VALID_PURPOSES
        ]
        if given.account_id:
            violations += v.check_id("api_token.account_id", given.account_id)
        _raise_if(violations)
        if given.account_id:
            await self._proxy.require_account(given.account_id, "api_token.account_id")
        token = generate_token(TokenKind.API)
        record = ApiTokenRecord(
            id=new_id("apit_"),
            name=given.name.strip(),
            purposes=tuple(purposes),
            account_id=given.account_id,
            expire_time=expire,
            create_time=now,
            last_used_time=None,
            token_prefix=token_prefix(token),
        )
        await self._store.create_api_token(record, hash_token(token, self._pepper))
        logger.info("created api token %s", record.id)
        return pb.CreateApiTokenResponse(api_token=api_token_message(record), token=token)

    @_edge
    async def ListApiTokens(self, request: pb.ListApiTokensRequest, context: Any) -> pb.ListApiTokensResponse:
        """A newest-first page of API tokens, optionally of one account."""
        size, violations = v.check_page_size("page_size", request.page_size)
        _raise_if(violations)
        after = v.decode_page_token("page_token", "api", request.account_id, request.page_token)
        records, cursor = await self._store.list_api_tokens(request.account_id, size, after)
        return pb.ListApiTokensResponse(
            api_tokens=[api_token_message(r) for r in records],
            next_page_token=v.encode_page_token("api", request.account_id, cursor),
        )

    @_edge
    async def RevokeApiToken(
        self, request: pb.RevokeApiTokenRequest, context: Any
    ) -> pb.RevokeApiTokenResponse:
        """Hard-delete an API token."""
        _raise_if(v.check_id("id", request.id))
        if not await self._store.delete_api_token(request.id):
            raise NotFound(
                f"API token {request.id!r} does not exist", resource_type="api_token", name=request.id
            )
        logger.info("revoked api token %s", request.id)
        return pb.RevokeApiTokenResponse()

    @_edge
    async def VerifyApiToken(
        self, request: pb.VerifyApiTokenRequest, context: Any
    ) -> pb.VerifyApiTokenResponse:
        """The token must resolve, grant the purpose, and be unbound or bound to the given account."""
        if request.purpose not in _VALID_PURPOSES:
            raise InvalidArgument([("purpose", "name the purpose to verify (MCP_CLIENT or MANAGEMENT)")])
        if not is_well_formed(request.token, TokenKind.API):
            raise NotFound(_NO_SUCH_TOKEN)
        presented = hash_token(request.token, self._pepper)
        match = await self._store.verify_api_token(presented, self._settings.last_used_resolution_s)
        if match is None or not tokens_equal(match[1], presented):
            raise NotFound(_NO_SUCH_TOKEN)
        record = match[0]
        if request.purpose not in record.purposes:
            raise PermissionDenied(
                f"API token {record.id} does not grant {pb.ApiTokenPurpose.Name(request.purpose)}"
            )
        if request.account_id and record.account_id and record.account_id != request.account_id:
            raise PermissionDenied(f"API token {record.id} is bound to another integrated account")
        return pb.VerifyApiTokenResponse(api_token=api_token_message(record))
