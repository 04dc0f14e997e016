"""Two façade replicas behind a balancer with no session affinity, with the official MCP client.

`up --store redis` runs the system with the façade's shared state in Redis; a second façade process
joins it on the same tokens, proxy, session secret and Redis, as a second pod would. A round-robin
balancer in front alternates requests between them and sends the client's answer to an elicitation to
the replica that did NOT ask. The approvals flow still completes: the answer is relayed to the asking
replica through Redis (services/mcp_facade/protocol/outgoing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import mcp.types as types
from aiohttp import web
from mcp.client.session import ClientRequestContext

from gumloop_mcp.launcher import facade_env, load_secrets

from .conftest import ROOT, start_stack
from .test_approvals import client_for, paused_session, wait

# Hop-by-hop or framing headers the balancer must not pass on (aiohttp sets its own).
_DROPPED = {"host", "content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}


class Balancer:
    """Round robin over two façades; a POSTed JSON-RPC response goes to the replica that did not
    take the latest tools/call (the adversarial case for a question asked on that call's stream)."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.turn = 0
        self.last_call: int | None = None
        self.routed: list[tuple[str, str, int]] = []  # (method, kind, backend index)
        self._http: aiohttp.ClientSession | None = None

    @staticmethod
    def _kind(body: bytes) -> str:
        try:
            message = json.loads(body) if body else None
        except ValueError:
            return "other"
        if not isinstance(message, dict):
            return "other"
        if message.get("method") == "tools/call":
            return "call"
        if "method" not in message and ("result" in message or "error" in message):
            return "answer"
        return "other"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        kind = self._kind(body) if request.method == "POST" else "other"
        if kind == "answer" and self.last_call is not None:
            index = 1 - self.last_call
        else:
            index, self.turn = self.turn % 2, self.turn + 1
        if kind == "call":
            self.last_call = index
        self.routed.append((request.method, kind, index))
        assert self._http is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        async with self._http.request(
            request.method, self.backends[index] + request.path_qs, headers=headers, data=body
        ) as upstream:
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _DROPPED},
            )
            await response.prepare(request)
            with contextlib.suppress(ConnectionResetError):
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            return response

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Serve on a free loopback port; yields the balancer's base URL."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=120))
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await self._http.close()
            await runner.cleanup()


@contextlib.asynccontextmanager
async def second_facade(ready: dict[str, Any], data_dir: Path, redis_url: str) -> AsyncIterator[str]:
    """Another façade process on the same tokens, proxy, session secret and Redis; yields its base URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUMLOOP_", "GMCP_", "OTEL_"))}
    env.update(
        facade_env(
            load_secrets(data_dir),
            tokens_target=str(ready["tokens_grpc"]),
            proxy_target=str(ready["proxy_grpc"]),
            data_dir=data_dir / "replica",
            redis_url=redis_url,
        )
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.mcp_facade",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        while True:
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            assert line, "the second façade exited before serving"
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == "serving":
                    break
        yield f"http://127.0.0.1:{event['ports']['http']}"
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_an_elicitation_answered_through_the_other_replica_completes_the_wait(
    tmp_path: Path, clean_redis_url: str
) -> None:
    asked: list[types.ElicitRequestFormParams] = []

    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        asked.append(params)
        return types.ElicitResult(action="accept", content={"decision": "accept", "q1": "across replicas"})

    with start_stack(tmp_path, "--store", "redis", "--redis-url", clean_redis_url) as stack:
        primary = stack.ready["mcp_url"].split("/mcp/")[0]
        path = stack.ready["mcp_url"][len(primary) :]
        async with second_facade(stack.ready, tmp_path / "data", clean_redis_url) as replica:
            balancer = Balancer([primary, replica])
            async with balancer.serving() as base, client_for(base + path, answer) as client:
                session_id = await paused_session(client, slack=False, text="[ask] Clean the report")
                body, text = await wait(client, session_id)

    assert len(asked) == 1 and session_id in asked[0].message
    assert body["session"]["state"] == "completed", text
    assert "q1=across replicas" in body["session"]["messages"][-1]["content"]
    answers = [index for _, kind, index in balancer.routed if kind == "answer"]
    calls = [index for _, kind, index in balancer.routed if kind == "call"]
    assert len(answers) == 1 and answers[0] != calls[-1]  # answered through the replica that did not ask
    assert {index for *_, index in balancer.routed} == {0, 1}  # both replicas served the session
    logs = stack.logs()
    assert "matched no pending server request" not in logs
