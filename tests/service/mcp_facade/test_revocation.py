"""Revoking or expiring an MCP server cuts what is open on it (ARCHITECTURE flow 8).

Legacy HTTP+SSE streams and session GET streams end, in-flight calls (a status tool's
`wait_seconds` polls included) are cancelled with a clear error and stop calling upstream,
and task runners stop; on every replica, since each watches revocations itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from gumloop_mcp.runtime import TokenKind, generate_token
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from services.mcp_facade.protocol.live import REVOKED_MESSAGE
from services.mcp_facade.server import FacadeServer
from tests.fakes.clock import FakeClock

from .conftest import Stack

BOTH = {"Accept": "application/json, text/event-stream"}
SSE = {"Accept": "text/event-stream"}
TASK_CAPS = {"tasks": {"requests": {"tools": {"call": {}}}}}
# A cut stream must end well within this (the keepalive is 15 s, so only a cut ends it sooner).
ENDS_WITHIN_S = 2.0


def _url(server: FacadeServer, token: str) -> str:
    return f"http://127.0.0.1:{server.public_port}/mcp/{token}"


async def _initialize(http: aiohttp.ClientSession, url: str, caps: dict[str, Any] | None = None) -> str:
    params = {"protocolVersion": "2025-11-25", "capabilities": caps or {}}
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    async with http.post(url, json=body, headers=BOTH) as resp:
        assert resp.status == 200
        return str(resp.headers["Mcp-Session-Id"])


async def _post(
    http: aiohttp.ClientSession, url: str, session: str, method: str, params: dict[str, Any], msg_id: int = 1
) -> tuple[int, Any]:
    body = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
    async with http.post(url, json=body, headers={**BOTH, "Mcp-Session-Id": session}) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


@asynccontextmanager
async def _legacy_stream(http: aiohttp.ClientSession, url: str) -> AsyncIterator[aiohttp.ClientResponse]:
    """An HTTP+SSE stream, past its endpoint event."""
    async with http.get(f"{url}/sse", headers=SSE) as resp:
        assert resp.status == 200
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)
        assert first.startswith(b"event: endpoint")
        yield resp


@asynccontextmanager
async def _session_stream(
    http: aiohttp.ClientSession, url: str, session: str
) -> AsyncIterator[aiohttp.ClientResponse]:
    """A session's GET stream (server -> client)."""
    async with http.get(url, headers={**SSE, "Mcp-Session-Id": session}) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        yield resp


async def _ends(resp: aiohttp.ClientResponse, within_s: float = ENDS_WITHIN_S) -> float:
    """Read the stream to its end; how long that took (fails if it stays open past `within_s`)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(resp.content.read(), within_s)
    return loop.time() - started


async def _until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    """Return once `condition()` holds (checked every 20 ms); fail after `within_s`."""
    async with asyncio.timeout(within_s):
        while not condition():
            await asyncio.sleep(0.02)


async def _still_open(resp: aiohttp.ClientResponse, for_s: float = 0.5) -> bool:
    try:
        await asyncio.wait_for(resp.content.read(), for_s)
    except TimeoutError:
        return True
    return False


async def test_deleting_the_server_ends_its_legacy_and_session_streams(stack: Stack) -> None:
    """A DELETED revocation ends an HTTP+SSE stream and a session GET stream at once; others stay."""
    other_token = stack.tokens.add_server("mcp_2")
    async with aiohttp.ClientSession() as http:
        session = await _initialize(http, stack.url)
        other_session = await _initialize(http, _url(stack.server, other_token))
        async with (
            _legacy_stream(http, stack.url) as legacy,
            _session_stream(http, stack.url, session) as get_stream,
            _session_stream(http, _url(stack.server, other_token), other_session) as unrelated,
        ):
            assert stack.server.facade.live.count("mcp_1") == 2
            await stack.tokens.revoke("mcp_1")
            await _ends(legacy)
            await _ends(get_stream)
            assert await _still_open(unrelated)  # another server's stream is not touched
        assert stack.server.facade.live.count("mcp_1") == 0
        # The legacy stream's claim is released: its POST URL is gone too.
        async with http.get(f"{stack.url}/sse") as resp:
            assert resp.status == 404


async def test_an_in_flight_wait_is_cancelled_with_a_clear_error_and_stops_polling(stack: Stack) -> None:
    """A call waiting server-side (wait_seconds) answers 404 with the revocation error and polls no more."""
    async with aiohttp.ClientSession() as http:
        session = await _initialize(http, stack.url)
        call = asyncio.create_task(
            _post(http, stack.url, session, "tools/call", {"name": "wait", "arguments": {"wait_seconds": 60}})
        )
        await asyncio.wait_for(stack.toolbox.started.wait(), 5)
        for _ in range(100):  # the wait is polling upstream (every 50 ms; later on a loaded machine)
            if stack.toolbox.polls >= 2:
                break
            await asyncio.sleep(0.05)
        assert stack.toolbox.polls >= 2
        await stack.tokens.revoke("mcp_1")
        status, reply = await asyncio.wait_for(call, ENDS_WITHIN_S)
        assert status == 404
        assert reply["error"] == {"code": -32600, "message": REVOKED_MESSAGE}
        await asyncio.wait_for(stack.toolbox.wait_ended.wait(), ENDS_WITHIN_S)  # the poll loop is over
        polls = stack.toolbox.polls
        await asyncio.sleep(0.15)  # three poll intervals
        assert stack.toolbox.polls == polls  # nothing keeps calling upstream
        assert stack.server.facade.protocol.inflight == 0


async def test_an_in_flight_streamed_call_ends_its_sse_answer_with_the_error(stack: Stack) -> None:
    """A tools/call answered over SSE (progress token) gets the revocation error as its response."""
    async with aiohttp.ClientSession() as http:
        session = await _initialize(http, stack.url)
        params = {"name": "slow", "arguments": {}, "_meta": {"progressToken": "p"}}
        call = asyncio.create_task(_post(http, stack.url, session, "tools/call", params))
        await asyncio.wait_for(stack.toolbox.started.wait(), 5)
        await stack.tokens.revoke("mcp_1")
        status, text = await asyncio.wait_for(call, ENDS_WITHIN_S)
        assert status == 200  # the SSE answer had started
        events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
        assert events[-1]["error"]["message"] == REVOKED_MESSAGE
        assert stack.toolbox.cancelled.is_set()


async def test_a_running_task_of_a_revoked_server_is_cancelled(stack: Stack) -> None:
    """The task runner stops; the record says cancelled, with the revocation as its error."""
    async with aiohttp.ClientSession() as http:
        session = await _initialize(http, stack.url, TASK_CAPS)
        _, created = await _post(
            http, stack.url, session, "tools/call", {"name": "slow", "arguments": {}, "task": {}}
        )
        task_id = created["result"]["task"]["taskId"]
        await asyncio.wait_for(stack.toolbox.started.wait(), 5)
        await stack.tokens.revoke("mcp_1")
        await asyncio.wait_for(stack.toolbox.cancelled.wait(), ENDS_WITHIN_S)
        for _ in range(100):
            record = await stack.server.state.load_task("mcp_1", task_id)
            if record is not None and record["status"] != "working":
                break
            await asyncio.sleep(0.02)
        assert record is not None
        assert (record["status"], record["message"]) == ("cancelled", REVOKED_MESSAGE)
        assert record["error"]["message"] == REVOKED_MESSAGE


async def test_a_rotated_token_without_grace_ends_only_its_own_streams(stack: Stack) -> None:
    """ROTATED: streams opened with the old token end once it no longer resolves; the new token's stay."""
    new_token = generate_token(TokenKind.MCP_URL)
    stack.tokens.url_tokens[new_token] = "mcp_1"
    async with aiohttp.ClientSession() as http:
        old_session = await _initialize(http, stack.url)
        new_session = await _initialize(http, _url(stack.server, new_token))
        async with (
            _session_stream(http, stack.url, old_session) as old,
            _session_stream(http, _url(stack.server, new_token), new_session) as new,
        ):
            del stack.tokens.url_tokens[stack.token]
            await stack.tokens.emit(
                pb.WatchRevocationsResponse(kind=pb.REVOCATION_KIND_ROTATED, mcp_server_id="mcp_1")
            )
            await _ends(old)
            assert await _still_open(new)


async def test_a_rotated_tokens_streams_end_when_its_grace_ends(stack: Stack) -> None:
    """ROTATED with a grace period: the old token's stream stays until the grace ends, then ends
    (the token service deletes grace tokens without an event)."""
    new_token = generate_token(TokenKind.MCP_URL)
    stack.tokens.url_tokens[new_token] = "mcp_1"
    async with aiohttp.ClientSession() as http:
        session = await _initialize(http, stack.url)
        async with _session_stream(http, stack.url, session) as old:
            stack.tokens.token_ends[stack.token] = int(time.time()) + 2
            await stack.tokens.emit(
                pb.WatchRevocationsResponse(kind=pb.REVOCATION_KIND_ROTATED, mcp_server_id="mcp_1")
            )
            assert await _still_open(old, 0.5)  # within the grace
            await _ends(old, within_s=4)


async def test_streams_and_calls_end_when_the_server_expires(stack: Stack) -> None:
    """No event needed: a stream ends at the record's expiry, and the expiry seen on a cache hit
    cancels the record's in-flight calls."""
    token = stack.tokens.add_server("mcp_short", expire_at=int(time.time()) + 2)
    url = _url(stack.server, token)
    async with aiohttp.ClientSession() as http:
        session = await _initialize(http, url)
        call = asyncio.create_task(_post(http, url, session, "tools/call", {"name": "slow", "arguments": {}}))
        async with _session_stream(http, url, session) as get_stream:
            await _ends(get_stream, within_s=4)
        # The stream ended on its timer; the call is cut by the next request's cache-hit expiry check.
        status, _ = await _post(http, url, session, "ping", {}, msg_id=2)
        assert status == 404
        status, reply = await asyncio.wait_for(call, ENDS_WITHIN_S)
        assert (status, reply["error"]["message"]) == (404, REVOKED_MESSAGE)


async def test_revocation_cuts_streams_and_calls_on_every_replica(stack: Stack, clean_redis_url: str) -> None:
    """Two replicas on one Redis: a legacy stream and a call on one, a GET stream on the other, all cut."""
    one = await stack.make(store="redis", redis_url=clean_redis_url)
    two = await stack.make(store="redis", redis_url=clean_redis_url)
    async with aiohttp.ClientSession() as http:
        session = await _initialize(http, _url(one, stack.token))
        async with (
            _legacy_stream(http, _url(one, stack.token)) as legacy,
            _session_stream(http, _url(two, stack.token), session) as get_stream,
        ):
            params = {"name": "wait", "arguments": {"wait_seconds": 60}}
            call = asyncio.create_task(_post(http, _url(two, stack.token), session, "tools/call", params))
            await asyncio.wait_for(stack.toolbox.started.wait(), 5)
            await stack.tokens.revoke("mcp_1")
            await _ends(legacy)
            await _ends(get_stream)
            status, reply = await asyncio.wait_for(call, ENDS_WITHIN_S)
            assert (status, reply["error"]["message"]) == (404, REVOKED_MESSAGE)


async def test_revoking_the_second_factor_api_token_ends_what_was_opened_with_it(stack: Stack) -> None:
    """API_TOKEN_REVOKED: streams and in-flight calls opened with that API token end; another's stay."""
    token = stack.tokens.add_server("mcp_2fa", require_api_token=True)
    url = _url(stack.server, token)
    revoked = {"Authorization": f"Bearer {stack.tokens.add_api_token('apit_revoked')}"}
    kept = {"Authorization": f"Bearer {stack.tokens.add_api_token('apit_kept')}"}
    async with aiohttp.ClientSession() as http:
        sessions = {}
        for name, auth in (("revoked", revoked), ("kept", kept)):
            body = {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {"protocolVersion": "2025-11-25"},
            }
            async with http.post(url, json=body, headers={**BOTH, **auth}) as resp:
                assert resp.status == 200
                sessions[name] = resp.headers["Mcp-Session-Id"]
        wait = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "wait", "arguments": {"wait_seconds": 60}}}  # fmt: skip
        headers = {**BOTH, **revoked, "Mcp-Session-Id": sessions["revoked"]}

        async def waiting_call() -> tuple[int, Any]:
            async with http.post(url, json=wait, headers=headers) as resp:
                return resp.status, await resp.json()

        async with (
            http.get(f"{url}/sse", headers={**SSE, **revoked}) as legacy,
            http.get(url, headers={**SSE, **revoked, "Mcp-Session-Id": sessions["revoked"]}) as mine,
            http.get(url, headers={**SSE, **kept, "Mcp-Session-Id": sessions["kept"]}) as other,
        ):
            assert legacy.status == mine.status == other.status == 200
            call = asyncio.create_task(waiting_call())
            await asyncio.wait_for(stack.toolbox.started.wait(), 5)
            assert stack.server.facade.live.count("mcp_2fa") == 4
            del stack.tokens.api_tokens[revoked["Authorization"][7:]]
            await stack.tokens.emit(
                pb.WatchRevocationsResponse(
                    kind=pb.REVOCATION_KIND_API_TOKEN_REVOKED, api_token_id="apit_revoked"
                )
            )
            status, reply = await asyncio.wait_for(call, ENDS_WITHIN_S)
            assert status == 404 and "API token" in reply["error"]["message"]
            await _ends(legacy)
            await _ends(mine)
            assert await _still_open(other)  # opened with the other API token: untouched
            assert stack.server.facade.live.count("mcp_2fa") == 1


async def test_an_expiry_seen_on_a_cache_hit_does_not_refuse_the_record_once_it_was_extended(
    stack: Stack,
) -> None:
    """The cached entry says expired, but the record was extended (its UPDATED came late): calls work."""
    clock = FakeClock()
    server = await stack.make(clock=clock)
    token = stack.tokens.add_server("mcp_ext", expire_at=int(clock.time()) + 2)
    record = stack.tokens.servers["mcp_ext"]
    url = _url(server, token)
    async with aiohttp.ClientSession() as http:
        session = await _initialize(http, url)
        clock.advance(2.2)  # past the expiry, well within the cache's lifetime
        status, _ = await _post(http, url, session, "ping", {})
        assert status == 404  # the stale cache entry: refused, and its open work cut
        record.expire_time.FromSeconds(int(clock.time()) + 86_400)
        await stack.tokens.emit(
            pb.WatchRevocationsResponse(kind=pb.REVOCATION_KIND_UPDATED, mcp_server_id="mcp_ext")
        )
        await asyncio.sleep(0.2)
        status, reply = await _post(
            http, url, session, "tools/call", {"name": "echo", "arguments": {"text": "hi"}}
        )
        assert status == 200, reply
        assert reply["result"]["structuredContent"] == {"echo": "mcp_ext:hi"}


async def _second_factor_session(
    http: aiohttp.ClientSession, url: str, auth: dict[str, str], caps: dict[str, Any] | None = None
) -> str:
    params = {"protocolVersion": "2025-11-25", "capabilities": caps or {}}
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    async with http.post(url, json=body, headers={**BOTH, **auth}) as resp:
        assert resp.status == 200
        return str(resp.headers["Mcp-Session-Id"])


async def test_a_task_started_with_a_revoked_api_token_is_cancelled(stack: Stack) -> None:
    """API_TOKEN_REVOKED cuts the task runners started with that API token too."""
    token = stack.tokens.add_server("mcp_task2fa", require_api_token=True)
    url = _url(stack.server, token)
    auth = {"Authorization": f"Bearer {stack.tokens.add_api_token('apit_task')}"}
    async with aiohttp.ClientSession() as http:
        session = await _second_factor_session(http, url, auth, TASK_CAPS)
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "slow", "arguments": {}, "task": {}}}  # fmt: skip
        async with http.post(url, json=body, headers={**BOTH, **auth, "Mcp-Session-Id": session}) as resp:
            assert "task" in (await resp.json())["result"]
        await asyncio.wait_for(stack.toolbox.started.wait(), 5)
        await stack.tokens.emit(
            pb.WatchRevocationsResponse(kind=pb.REVOCATION_KIND_API_TOKEN_REVOKED, api_token_id="apit_task")
        )
        await asyncio.wait_for(stack.toolbox.cancelled.wait(), ENDS_WITHIN_S)


async def test_after_a_watch_reconnect_api_tokens_in_use_are_verified_again(stack: Stack) -> None:
    """Events may be lost while the watch is down: a stream whose API token no longer verifies ends."""
    token = stack.tokens.add_server("mcp_recheck", require_api_token=True)
    url = _url(stack.server, token)
    revoked_token = stack.tokens.add_api_token("apit_gone")
    revoked = {"Authorization": f"Bearer {revoked_token}"}
    kept = {"Authorization": f"Bearer {stack.tokens.add_api_token('apit_here')}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/sse", headers={**SSE, **revoked}) as gone,
        http.get(f"{url}/sse", headers={**SSE, **kept}) as here,
    ):
        assert gone.status == here.status == 200
        del stack.tokens.api_tokens[revoked_token]  # revoked while no event reached this replica
        await stack.tokens.emit(pb.WatchRevocationsResponse())  # the watch is live again: re-check
        await _ends(gone)
        assert await _still_open(here)


async def test_a_legacy_stream_left_during_its_claim_releases_its_hold(stack: Stack) -> None:
    """A client that leaves while the stream is being claimed (a slow shared state) leaves nothing held."""
    state = stack.server.state
    claim = state.claim_stream
    claiming = asyncio.Event()
    unblock = asyncio.Event()

    async def slow_claim(*args: Any, **kwargs: Any) -> Any:
        claiming.set()
        await unblock.wait()
        return await claim(*args, **kwargs)

    state.claim_stream = slow_claim  # type: ignore[method-assign]
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            claiming.clear()
            request = asyncio.create_task(http.get(f"{stack.url}/sse", headers=SSE))
            await asyncio.wait_for(claiming.wait(), 5)
            request.cancel()  # the client leaves while its stream is being claimed
            with contextlib.suppress(asyncio.CancelledError):
                await request
        unblock.set()
    await _until(lambda: stack.server.facade.live.count() == 0 and not stack.server.facade.legacy.connections)


async def test_a_burst_of_updates_re_checks_the_tokens_in_use_once_or_twice_not_per_event(
    stack: Stack,
) -> None:
    """Twenty UPDATED events for one record: one re-check now and at most one more after it."""
    async with aiohttp.ClientSession() as http:
        session = await _initialize(http, stack.url)
        async with _session_stream(http, stack.url, session) as stream:
            before = stack.tokens.resolve_calls
            for _ in range(20):
                await stack.tokens.emit(
                    pb.WatchRevocationsResponse(kind=pb.REVOCATION_KIND_UPDATED, mcp_server_id="mcp_1")
                )
            await _until(lambda: stack.tokens.resolve_calls > before)
            await asyncio.sleep(0.2)  # room for more re-checks, were each event to start one
            assert 1 <= stack.tokens.resolve_calls - before <= 5
            assert await _still_open(stream)  # the record still resolves: nothing is cut
            assert stack.server.facade.live.count("mcp_1") == 1


async def test_changes_made_through_this_replicas_management_api_apply_here_before_any_event(
    stack: Stack,
) -> None:
    """A delete, a rotation and an API-token revocation answered by this replica's admin port take
    effect on its MCP port at once, with the resolutions cached and no revocation event sent (the
    fake token service sends none for them): the URL is 404 and its open stream ends, the rotated-out
    URL is 404, and the revoked second factor is 401."""
    admin_token = stack.tokens.add_api_token("apit_admin", purposes=(pb.API_TOKEN_PURPOSE_MANAGEMENT,))
    admin = f"http://127.0.0.1:{stack.server.admin_port}"
    auth = {"Authorization": f"Bearer {admin_token}"}
    rotated = stack.tokens.add_server("mcp_rot")
    secure = stack.tokens.add_server("mcp_sec", require_api_token=True)
    client_token = stack.tokens.add_api_token("apit_client")
    bearer = {"Authorization": f"Bearer {client_token}"}
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}},
    }
    async with aiohttp.ClientSession() as http:

        async def status(url: str, headers: dict[str, str] | None = None) -> int:
            async with http.post(url, json=init, headers={**BOTH, **(headers or {})}) as resp:
                return resp.status

        session = await _initialize(http, stack.url)
        assert await status(_url(stack.server, rotated)) == 200
        assert await status(_url(stack.server, secure), bearer) == 200
        calls = stack.tokens.resolve_calls
        assert await status(stack.url) == 200 and stack.tokens.resolve_calls == calls  # cached
        async with _session_stream(http, stack.url, session) as stream:
            async with http.delete(f"{admin}/integrated-account/acct_1/mcp/mcp_1", headers=auth) as resp:
                assert resp.status == 204
            await _ends(stream)
        assert await status(stack.url) == 404
        async with http.post(
            f"{admin}/integrated-account/acct_1/mcp/mcp_rot/rotate", json={}, headers=auth
        ) as resp:
            assert resp.status == 200
        del stack.tokens.url_tokens[rotated]  # the token service ended the old token (grace 0)
        assert await status(_url(stack.server, rotated)) == 404
        async with http.delete(f"{admin}/api-tokens/apit_client", headers=auth) as resp:
            assert resp.status == 204
        assert await status(_url(stack.server, secure), bearer) == 401
