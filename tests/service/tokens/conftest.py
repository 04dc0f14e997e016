"""Infrastructure for token service tests: a fake proxy, a controllable clock, and a service factory.

`backend` parametrizes every test that uses `make_tokens` over the SQLite and Redis stores, so the
same contract suite runs against both.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis.asyncio
from google.protobuf import timestamp_pb2

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as proxy_pb2
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as proxy_grpc
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as pb_grpc
from services.tokens.server import TokenServer, create_server
from services.tokens.settings import TokenSettings
from services.tokens.sqlite_schema import SERVER_COLUMNS, migrate, server_from_row
from services.tokens.store import ServerRecord

KNOWN_ACCOUNT = "acct_known"
OTHER_ACCOUNT = "acct_other"
PEPPER = "test-pepper-0123456789abcdef"

_K = proxy_pb2.OperationKind
OPERATIONS = [
    ("create_agent", _K.OPERATION_KIND_CREATE, ["agents"]),
    ("delete_agent", _K.OPERATION_KIND_DELETE, ["agents"]),
    ("get_agent", _K.OPERATION_KIND_GET, ["agents"]),
    ("list_agents", _K.OPERATION_KIND_LIST, ["agents"]),
    ("list_flows", _K.OPERATION_KIND_LIST, ["flows"]),
    ("start_pipeline", _K.OPERATION_KIND_CUSTOM, ["flows"]),
]


class FakeProxy(proxy_grpc.ProxyServiceServicer):
    """A test double of the proxy: a small catalog and two known accounts."""

    def __init__(self) -> None:
        self.list_operations_calls = 0

    async def ListOperations(self, request: Any, context: Any) -> proxy_pb2.ListOperationsResponse:
        self.list_operations_calls += 1
        return proxy_pb2.ListOperationsResponse(
            operations=[proxy_pb2.Operation(name=n, kind=k, tags=t) for n, k, t in OPERATIONS],
            catalog_version="test",
        )

    async def GetIntegratedAccount(
        self, request: Any, context: Any
    ) -> proxy_pb2.GetIntegratedAccountResponse:
        if request.account_id not in (KNOWN_ACCOUNT, OTHER_ACCOUNT):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"account {request.account_id} not found")
        return proxy_pb2.GetIntegratedAccountResponse(
            account=proxy_pb2.IntegratedAccount(id=request.account_id, display_name="test")
        )


class FakeClock:
    """A clock that only moves when told to; starts at the real time so Redis TTLs stay sensible."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Tokens:
    """A running token service and a stub talking to it."""

    service: TokenServer
    stub: pb_grpc.TokenServiceStub
    channel: grpc.aio.Channel
    settings: TokenSettings


def ts(seconds: float) -> timestamp_pb2.Timestamp:
    """A Timestamp for epoch seconds."""
    out = timestamp_pb2.Timestamp()
    out.FromNanoseconds(round(seconds * 1e9))
    return out


@pytest.fixture
async def fake_proxy() -> AsyncIterator[tuple[FakeProxy, str]]:
    """The fake proxy served on a free loopback port; yields (servicer, target)."""
    servicer = FakeProxy()
    server = grpc.aio.server()
    proxy_grpc.add_ProxyServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """The store under test."""
    return str(request.param)


@pytest.fixture
def store_settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings selecting the backend (Redis tests get a flushed real redis-server)."""
    if backend == "redis":
        return {
            "store": "redis",
            "redis_url": request.getfixturevalue("clean_redis_url"),
            "data_dir": tmp_path,
        }
    return {"store": "sqlite", "data_dir": tmp_path}


MakeTokens = Callable[..., Awaitable[Tokens]]


@pytest.fixture
async def make_tokens(
    store_settings: dict[str, Any], fake_proxy: tuple[FakeProxy, str]
) -> AsyncIterator[MakeTokens]:
    """Factory: start a token service (clock and settings overridable); all are stopped at the end."""
    started: list[Tokens] = []

    async def make(*, clock: Callable[[], float] | None = None, **overrides: Any) -> Tokens:
        values: dict[str, Any] = {
            "grpc_port": 0,
            "pepper": PEPPER,
            "proxy_target": fake_proxy[1],
            "proxy_timeout_s": 2.0,
            **store_settings,
            **overrides,
        }
        settings = TokenSettings(**values)
        service = await create_server(settings, clock=clock)
        await service.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
        tokens = Tokens(service, pb_grpc.TokenServiceStub(channel), channel, settings)
        started.append(tokens)
        return tokens

    yield make
    for tokens in started:
        await tokens.channel.close()
        await tokens.service.stop(0)


async def storage_dump(tokens: Tokens) -> bytes:
    """Every byte the store holds: the SQLite files (with WAL), or every Redis key and value."""
    settings = tokens.settings
    if settings.store == "sqlite":
        path = settings.sqlite_path or Path(settings.data_dir) / "tokens.sqlite3"
        files = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    assert settings.redis_url is not None
    client = redis.asyncio.Redis.from_url(settings.redis_url.get_secret_value())
    parts: list[bytes] = []
    try:
        async for key in client.scan_iter(match="*"):
            parts.append(key)
            kind = (await client.type(key)).decode()
            if kind == "string":
                parts.append(await client.get(key) or b"")
            elif kind == "hash":
                for field, value in (await client.hgetall(key)).items():
                    parts += [field, value]
            elif kind == "set":
                parts += list(await client.smembers(key))
            elif kind == "zset":
                parts += list(await client.zrange(key, 0, -1))
            else:
                raise AssertionError(f"unexpected redis type {kind} at {key!r}")
    finally:
        await client.aclose()
    return b"\n".join(parts)


async def record_in_storage(tokens: Tokens, server_id: str) -> bool:
    """Whether any row, key or value of the store still mentions the record."""
    settings = tokens.settings
    if settings.store == "sqlite":
        path = settings.sqlite_path or Path(settings.data_dir) / "tokens.sqlite3"
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT count(*) FROM servers WHERE id = ?", (server_id,)).fetchone()[0]
            rows += conn.execute(
                "SELECT count(*) FROM server_tokens WHERE server_id = ?", (server_id,)
            ).fetchone()[0]
        return bool(rows)
    return server_id.encode() in await storage_dump(tokens)


# A servers row of a file written before config.audit_payloads and require_oauth existed.
OldServerRecord = Callable[..., ServerRecord]


@pytest.fixture
def old_server_record(tmp_path: Path) -> OldServerRecord:
    """Writes one server row into a SQLite file of the schema before `audit_payloads` and
    `require_oauth` (with `require_api_token_auth` as given), runs `migrate` on it, and returns the
    row read back with today's columns."""

    def make(*, require_api_token_auth: bool = False) -> ServerRecord:
        conn = sqlite3.connect(tmp_path / "old.sqlite3")
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(
                "CREATE TABLE servers (id TEXT PRIMARY KEY, name TEXT NOT NULL, account_id TEXT NOT NULL, "
                "methods TEXT NOT NULL, tags TEXT NOT NULL, expire_time REAL, "
                "require_api_token_auth INTEGER NOT NULL, create_time REAL NOT NULL, "
                "update_time REAL NOT NULL, last_used_time REAL, token_prefix TEXT NOT NULL, "
                "tool_exposure TEXT NOT NULL DEFAULT '', context_budget_tokens INTEGER NOT NULL DEFAULT 0)"
            )
            conn.execute(
                "INSERT INTO servers VALUES "
                "('mcp_1', 'old', 'acct', '[]', '[]', NULL, ?, 1.0, 1.0, NULL, 'gmcp_x', '', 0)",
                (int(require_api_token_auth),),
            )
            migrate(conn)
            return server_from_row(conn.execute(f"SELECT {SERVER_COLUMNS} FROM servers").fetchone())
        finally:
            conn.close()

    return make
