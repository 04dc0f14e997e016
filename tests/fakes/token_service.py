"""The one fake TokenService of the test suites (served by a real grpc.aio server on 127.0.0.1:0).

It keeps MCP servers by id and the URL tokens that resolve to them, API tokens with their purposes
and account binding, and streams revocation events to every open watch. Its answers follow the real
servicer (services/tokens/servicer.py) where tests rely on them: an unknown token is NOT_FOUND, a
token without the purpose or bound to another account is PERMISSION_DENIED.

Protocol-layer tests add servers with `add_server` (a fresh `gmcp_` token each) and revoke them;
management tests drive it through the façade's admin API (Create/Get/List/Update/Delete/Rotate).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
from google.rpc import error_details_pb2

from gumloop_mcp.runtime import TokenKind, generate_token, with_details
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as pb_grpc

MCP_CLIENT = pb.API_TOKEN_PURPOSE_MCP_CLIENT
MANAGEMENT = pb.API_TOKEN_PURPOSE_MANAGEMENT


class FakeTokens(pb_grpc.TokenServiceServicer):
    """MCP servers, URL tokens and API tokens in dicts; revocation events to every open watch.

    `servers` maps server id -> record, `url_tokens` URL token -> server id (a rotated token's
    successor is one more entry), `token_ends` URL token -> epoch second it stops resolving (a
    rotation's grace end), `api_tokens` API token -> record. `down` makes ResolveToken UNAVAILABLE.
    """

    def __init__(self) -> None:
        self.servers: dict[str, pb.McpServer] = {}
        self.url_tokens: dict[str, str] = {}
        self.token_ends: dict[str, int] = {}
        self.api_tokens: dict[str, pb.ApiToken] = {}
        self.resolve_calls = 0
        self.down = False
        self.watchers: list[asyncio.Queue[pb.WatchRevocationsResponse]] = []
        # The grace_period (seconds, None when unset) of every RotateMcpServerToken call.
        self.rotations: list[int | None] = []
        self._ids = itertools.count(1)

    # -- set-up helpers -------------------------------------------------------------------------

    async def serve(self) -> tuple[grpc.aio.Server, int]:
        """Start a grpc.aio server for this fake on 127.0.0.1:0: (server, port); the caller stops it."""
        server = grpc.aio.server()
        pb_grpc.add_TokenServiceServicer_to_server(self, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    def add_server(
        self,
        server_id: str = "mcp_1",
        *,
        require_api_token: bool = False,
        require_oauth: bool = False,
        expire_at: int | None = None,
        name: str | None = None,
    ) -> str:
        """A read-scoped MCP server of acct_1 (expiring at epoch second `expire_at`); a new URL token
        for it. Adding an id again replaces its record and adds a token (the earlier ones stay)."""
        record = pb.McpServer(
            id=server_id,
            name=name or f"server {server_id}",
            account_id="acct_1",
            config=pb.McpServerConfig(methods=["read"]),
            require_api_token_auth=require_api_token,
            require_oauth=require_oauth,
        )
        if expire_at is not None:
            record.expire_time.FromSeconds(expire_at)
        self.servers[server_id] = record
        token = generate_token(TokenKind.MCP_URL)
        self.url_tokens[token] = server_id
        return token

    def server_of(self, token: str) -> pb.McpServer:
        """The record a URL token resolves to (KeyError when it resolves to none)."""
        return self.servers[self.url_tokens[token]]

    def add_api_token(
        self,
        token_id: str = "apit_1",
        *,
        token: str | None = None,
        purposes: Iterable[pb.ApiTokenPurpose] = (MCP_CLIENT,),
        account_id: str = "",
    ) -> str:
        """An API token granting `purposes` (bound to `account_id` when given); the token itself."""
        token = token or generate_token(TokenKind.API)
        self.api_tokens[token] = pb.ApiToken(
            id=token_id, name="client", purposes=list(purposes), account_id=account_id
        )
        return token

    async def emit(self, event: pb.WatchRevocationsResponse) -> None:
        """Send a revocation event to every open watch."""
        for queue in self.watchers:
            await queue.put(event)

    async def revoke(self, server_id: str) -> None:
        """Delete the server and its URL tokens, and tell every watch (REVOCATION_KIND_DELETED)."""
        self._drop(server_id)
        await self.emit(pb.WatchRevocationsResponse(kind=pb.REVOCATION_KIND_DELETED, mcp_server_id=server_id))

    def _drop(self, server_id: str) -> None:
        self.servers.pop(server_id, None)
        for token in [t for t, s in self.url_tokens.items() if s == server_id]:
            del self.url_tokens[token]

    async def _get(self, server_id: str, context: Any) -> pb.McpServer:
        if server_id not in self.servers:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"MCP server {server_id!r} does not exist")
        return self.servers[server_id]

    # -- the façade's calls ---------------------------------------------------------------------

    async def ResolveToken(self, request: Any, context: Any) -> pb.ResolveTokenResponse:
        self.resolve_calls += 1
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "store down")
        server_id = self.url_tokens.get(request.token)
        if server_id is None or server_id not in self.servers:
            await context.abort(grpc.StatusCode.NOT_FOUND, "token does not resolve")
        reply = pb.ResolveTokenResponse(mcp_server=self.servers[server_id])
        if request.token in self.token_ends:
            reply.token_expire_time.FromSeconds(self.token_ends[request.token])
        return reply

    async def VerifyApiToken(self, request: Any, context: Any) -> pb.VerifyApiTokenResponse:
        token = self.api_tokens.get(request.token)
        if token is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such API token")
        if request.purpose not in token.purposes:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"API token {token.id} lacks the purpose")
        if request.account_id and token.account_id and token.account_id != request.account_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "bound to another integrated account")
        return pb.VerifyApiTokenResponse(api_token=token)

    async def WatchRevocations(
        self, request: Any, context: Any
    ) -> AsyncIterator[pb.WatchRevocationsResponse]:
        queue: asyncio.Queue[pb.WatchRevocationsResponse] = asyncio.Queue()
        self.watchers.append(queue)
        try:
            yield pb.WatchRevocationsResponse()
            while True:
                yield await queue.get()
        finally:
            self.watchers.remove(queue)

    # -- the admin API's calls ------------------------------------------------------------------

    async def CreateMcpServer(self, request: Any, context: Any) -> pb.CreateMcpServerResponse:
        """A method named 'bogus' is an INVALID_ARGUMENT with a field violation, as the real one."""
        if "bogus" in request.mcp_server.config.methods:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field="mcp_server.config.methods[0]", description="unknown method 'bogus'"
                    )
                ]
            )
            await context.abort_with_status(with_details(grpc.StatusCode.INVALID_ARGUMENT, "invalid", bad))
        server = pb.McpServer()
        server.CopyFrom(request.mcp_server)
        server.id = f"mcp_{next(self._ids)}"
        server.token_prefix = "gmcp_abcd"
        self.servers[server.id] = server
        token = f"gmcp_secret_{server.id}"
        self.url_tokens[token] = server.id
        return pb.CreateMcpServerResponse(mcp_server=server, token=token)

    async def GetMcpServer(self, request: Any, context: Any) -> pb.GetMcpServerResponse:
        return pb.GetMcpServerResponse(mcp_server=await self._get(request.id, context))

    async def ListMcpServers(self, request: Any, context: Any) -> pb.ListMcpServersResponse:
        mine = [s for s in self.servers.values() if s.account_id == request.account_id]
        start = int(request.page_token or 0)
        page = mine[start : start + request.page_size]
        more = start + request.page_size < len(mine)
        return pb.ListMcpServersResponse(
            mcp_servers=page, next_page_token=str(start + request.page_size) if more else ""
        )

    async def UpdateMcpServer(self, request: Any, context: Any) -> pb.UpdateMcpServerResponse:
        """A server renamed 'contended' is ABORTED (the real one's optimistic-concurrency give-up)."""
        server = await self._get(request.mcp_server.id, context)
        if request.mcp_server.name == "contended":
            await context.abort(grpc.StatusCode.ABORTED, "the scope kept changing; retry the update")
        for path in request.update_mask.paths:
            if path == "config":
                server.config.CopyFrom(request.mcp_server.config)
            elif path == "expire_time":
                server.ClearField("expire_time")
                if request.mcp_server.HasField("expire_time"):
                    server.expire_time.CopyFrom(request.mcp_server.expire_time)
            else:
                setattr(server, path, getattr(request.mcp_server, path))
        return pb.UpdateMcpServerResponse(mcp_server=server)

    async def DeleteMcpServer(self, request: Any, context: Any) -> pb.DeleteMcpServerResponse:
        await self._get(request.id, context)
        self._drop(request.id)
        return pb.DeleteMcpServerResponse()

    async def RotateMcpServerToken(self, request: Any, context: Any) -> pb.RotateMcpServerTokenResponse:
        server = await self._get(request.id, context)
        self.rotations.append(request.grace_period.seconds if request.HasField("grace_period") else None)
        token = f"gmcp_rotated_{server.id}"
        self.url_tokens[token] = server.id
        reply = pb.RotateMcpServerTokenResponse(mcp_server=server, token=token)
        reply.old_token_expire_time.FromSeconds(2_000_000_000 + request.grace_period.seconds)
        return reply

    async def RevokeApiToken(self, request: Any, context: Any) -> pb.RevokeApiTokenResponse:
        """Forgets the API token (no revocation event: tests emit one when they want it)."""
        found = [token for token, record in self.api_tokens.items() if record.id == request.id]
        if not found:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"API token {request.id!r} does not exist")
        for token in found:
            del self.api_tokens[token]
        return pb.RevokeApiTokenResponse()

    async def CreateApiToken(self, request: Any, context: Any) -> pb.CreateApiTokenResponse:
        record = pb.ApiToken()
        record.CopyFrom(request.api_token)
        record.id = "apit_2"
        token = "gmcpat_new"
        self.api_tokens[token] = record
        return pb.CreateApiTokenResponse(api_token=record, token=token)
