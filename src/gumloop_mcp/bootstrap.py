"""Idempotent first-run setup for `gumloop-mcp up`, straight over gRPC.

Creates (or reuses, from ids and tokens kept in the data directory with mode 0600) a management
API token, an integrated account for the emulator or the configured Gumloop credential, and a demo
MCP server with full scope. Re-running `up` on the same data directory prints the same URLs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import grpc

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as ppb
from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from gumloop_mcp.runtime import create_channel
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as tpb
from gumloop_mcp.tokens.v1.tokens_service_pb2_grpc import TokenServiceStub

from .launcher import read_secret_file, write_secret_file

__all__ = ["API_TOKEN_FILE", "DEMO_SERVER_FILE", "AccountSpec", "Bootstrapped", "bootstrap"]

logger = logging.getLogger(__name__)

DEMO_SERVER_NAME = "Demo (full scope)"
ACCOUNT_ID = "acct_local"
# In the data directory, mode 0600: the management API token, and {"id", "token"} of the demo server.
API_TOKEN_FILE = "api-token"
DEMO_SERVER_FILE = "demo-mcp-server.json"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """The Gumloop account to connect: emulator or real credential."""

    display_name: str
    kind: int  # ppb.CredentialKind
    secret: str
    user_id: str
    api_base_url: str
    stream_base_url: str
    team_id: str = ""


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    """What bootstrap made or found."""

    api_token: str
    account_id: str
    mcp_server_id: str
    mcp_token: str


async def _api_token(tokens: TokenServiceStub, path: Path) -> str:
    existing = read_secret_file(path)
    if existing is not None:
        try:
            await tokens.VerifyApiToken(
                tpb.VerifyApiTokenRequest(token=existing, purpose=tpb.API_TOKEN_PURPOSE_MANAGEMENT)
            )
            return existing
        except grpc.aio.AioRpcError as err:
            if err.code() not in (
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.UNAUTHENTICATED,
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.INVALID_ARGUMENT,
            ):
                raise
            logger.info("the saved management API token is no longer valid; creating a new one")
    response = await tokens.CreateApiToken(
        tpb.CreateApiTokenRequest(
            api_token=tpb.ApiToken(
                name="gumloop-mcp up",
                purposes=[tpb.API_TOKEN_PURPOSE_MANAGEMENT, tpb.API_TOKEN_PURPOSE_MCP_CLIENT],
            )
        )
    )
    write_secret_file(path, response.token)
    return str(response.token)


async def _account(proxy: ProxyServiceStub, spec: AccountSpec) -> str:
    try:
        found = await proxy.GetIntegratedAccount(ppb.GetIntegratedAccountRequest(account_id=ACCOUNT_ID))
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.NOT_FOUND:
            raise
    else:
        acct = found.account
        if (
            acct.api_base_url == spec.api_base_url
            and acct.stream_base_url == spec.stream_base_url
            and acct.user_id == spec.user_id
            and acct.credential_kind == spec.kind
        ):
            return str(acct.id)
        # The emulator's port (or the configured key) changed: replace the account under the same
        # id so existing MCP servers keep working.
        await proxy.DeleteIntegratedAccount(ppb.DeleteIntegratedAccountRequest(account_id=ACCOUNT_ID))
    created = await proxy.CreateIntegratedAccount(
        ppb.CreateIntegratedAccountRequest(
            account=ppb.IntegratedAccount(
                id=ACCOUNT_ID,
                display_name=spec.display_name,
                user_id=spec.user_id,
                team_id=spec.team_id,
                api_base_url=spec.api_base_url,
                stream_base_url=spec.stream_base_url,
            ),
            credential=ppb.Credential(kind=spec.kind, secret=spec.secret),  # type: ignore[arg-type]
        )
    )
    return str(created.account.id)


async def _demo_server(tokens: TokenServiceStub, account_id: str, path: Path) -> tuple[str, str]:
    saved = read_secret_file(path)
    if saved is not None:
        try:
            record = json.loads(saved)
            await tokens.GetMcpServer(tpb.GetMcpServerRequest(id=record["id"]))
            resolved = await tokens.ResolveToken(tpb.ResolveTokenRequest(token=record["token"]))
            if resolved.mcp_server.account_id == account_id:
                return str(record["id"]), str(record["token"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring an unreadable %s", path.name)
        except grpc.aio.AioRpcError as err:
            if err.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED):
                raise
    response = await tokens.CreateMcpServer(
        tpb.CreateMcpServerRequest(
            mcp_server=tpb.McpServer(
                name=DEMO_SERVER_NAME, account_id=account_id, config=tpb.McpServerConfig()
            )
        )
    )
    server_id, token = str(response.mcp_server.id), str(response.token)
    write_secret_file(path, json.dumps({"id": server_id, "token": token}))
    return server_id, token


async def bootstrap(
    data_dir: Path,
    tokens_target: str,
    proxy_target: str,
    spec: AccountSpec,
    *,
    tokens_caller_token: str | None = None,
    proxy_caller_token: str | None = None,
) -> Bootstrapped:
    """Make sure the API token, the account and the demo MCP server exist; return them.

    The caller tokens authenticate us to the two servers (None: they are open).
    """
    tokens_channel = create_channel(tokens_target, caller_token=tokens_caller_token)
    proxy_channel = create_channel(proxy_target, caller_token=proxy_caller_token)
    try:
        tokens = TokenServiceStub(tokens_channel)
        proxy = ProxyServiceStub(proxy_channel)
        api_token = await _api_token(tokens, data_dir / API_TOKEN_FILE)
        account_id = await _account(proxy, spec)
        server_id, mcp_token = await _demo_server(tokens, account_id, data_dir / DEMO_SERVER_FILE)
        return Bootstrapped(api_token, account_id, server_id, mcp_token)
    finally:
        await tokens_channel.close()
        await proxy_channel.close()
