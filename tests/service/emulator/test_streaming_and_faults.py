"""SSE on the stream host and fault injection."""

import json

import httpx
import pytest

from gumloop_mcp.emulator import RunningEmulator
from gumloop_mcp.emulator.context import EMU

from .conftest import FakeTime

WS = "/ws/api/v1"


async def test_chat_completions_stream_openai_chunks_then_done(client: httpx.AsyncClient) -> None:
    """stream: true yields chat.completion.chunk events and [DONE]; false yields JSON."""
    body = {
        "model": "openai/gpt-4.1",
        "messages": [{"role": "user", "content": "hello world"}],
        "stream": True,
    }
    async with client.stream("POST", WS + "/chat/completions", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in r.aiter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "hello world" in "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    unary = (await client.post(WS + "/chat/completions", json={**body, "stream": False})).json()
    assert unary["object"] == "chat.completion"


async def test_session_stream_ends_with_a_final_finish_event(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """SSE events of a session end when it completes."""
    r = await client.post("/api/v1/agents/agent_support/sessions", json={"input": "triage"})
    sid = r.json()["session"]["id"]
    fake_time.now += 5
    async with client.stream("GET", WS + f"/sessions/{sid}", params={"stream": "true"}) as resp:
        text = "".join([chunk async for chunk in resp.aiter_text()])
    assert "event: message" in text and "event: finish" in text
    last = json.loads(text.strip().split("data: ")[-1])
    assert last["final"] is True and last["stream_cursor"].startswith(sid)


async def _fault(client: httpx.AsyncClient, **spec: object) -> None:
    r = await client.post("/__emulator/faults", json=spec)
    assert r.status_code == 201


async def test_status_fault_returns_the_status_and_headers_once(client: httpx.AsyncClient) -> None:
    """A status fault affects count requests, with the extra headers."""
    await _fault(
        client,
        match={"path_prefix": "/api/v1/teams"},
        kind="status",
        status=503,
        headers={"RateLimit-Reset": "5"},
    )
    r = await client.get("/api/v1/teams")
    assert r.status_code == 503 and r.headers["RateLimit-Reset"] == "5"
    assert (await client.get("/api/v1/teams")).status_code == 200


async def test_malformed_fault_returns_invalid_json(client: httpx.AsyncClient) -> None:
    """200 application/json that does not parse."""
    await _fault(client, match={"path_prefix": "/api/v1/models", "method": "GET"}, kind="malformed")
    r = await client.get("/api/v1/models")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        r.json()


async def test_reset_fault_drops_the_connection(client: httpx.AsyncClient) -> None:
    """The connection is closed without a response."""
    await _fault(client, match={"path_prefix": "/api/v1/teams"}, kind="reset")
    with pytest.raises(httpx.TransportError):
        await client.get("/api/v1/teams")
    assert (await client.get("/api/v1/teams")).status_code == 200


async def test_latency_fault_delays_and_requests_are_recorded_redacted(
    client: httpx.AsyncClient, emulator: RunningEmulator
) -> None:
    """Latency faults still answer; the request log hides credentials; reset clears faults."""
    await _fault(client, match={"path_prefix": "/api/v1/teams"}, kind="latency", latency_ms=50, count=-1)
    assert (await client.get("/api/v1/teams")).status_code == 200
    log = (await client.get("/__emulator/requests")).json()["requests"]
    entry = next(e for e in log if e["path"] == "/api/v1/teams")
    assert entry["status"] == 200
    assert {k.lower(): v for k, v in entry["headers"].items()}["authorization"] == "[REDACTED]"
    assert emulator.api_key not in json.dumps(log)
    assert (await client.post("/__emulator/reset")).status_code == 200
    assert (await client.get("/__emulator/health")).json() == {"status": "ok"}
    bad = await client.post("/__emulator/faults", json={"kind": "explode"})
    assert bad.status_code == 400


async def test_a_failing_model_provider_is_a_native_502(client: httpx.AsyncClient) -> None:
    """A chat completion whose last user message asks to fail answers 502 upstream_error, stream or not."""
    body = {"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "hi [fail]"}]}
    for stream in (False, True):
        r = await client.post(WS + "/chat/completions", json={**body, "stream": stream})
        assert r.status_code == 502
        assert r.json()["error"]["code"] == "upstream_error" and r.json()["error"]["type"] == "api_error"


async def test_an_artifact_link_that_cannot_be_signed_is_a_native_502(
    client: httpx.AsyncClient, emulator: RunningEmulator
) -> None:
    """GET /artifacts/{id}/download answers 502 signing_failed when the stored file is gone."""
    store = emulator.app[EMU].store
    art = next(iter(store.artifacts.values()))
    store.blobs.pop(art["_blob"])
    r = await client.get(f"/api/v1/artifacts/{art['id']}/download")
    assert r.status_code == 502 and r.json()["error"]["code"] == "signing_failed"


async def _finished_session(client: httpx.AsyncClient, fake_time: FakeTime) -> str:
    r = await client.post("/api/v1/agents/agent_support/sessions", json={"input": "triage"})
    fake_time.now += 5
    return str(r.json()["session"]["id"])


async def test_resuming_after_the_last_event_only_sends_what_follows(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """last_cursor <sid>:n resumes after event n: from :1 only the final event comes back."""
    sid = await _finished_session(client, fake_time)
    async with client.stream("GET", WS + f"/sessions/{sid}", params={"stream": "true"}) as resp:
        full = [json.loads(line[6:]) async for line in resp.aiter_lines() if line.startswith("data: ")]
    params = {"stream": "true", "last_cursor": f"{sid}:1"}
    async with client.stream("GET", WS + f"/sessions/{sid}", params=params) as resp:
        rest = [json.loads(line[6:]) async for line in resp.aiter_lines() if line.startswith("data: ")]
    assert rest == full[1:]


@pytest.mark.parametrize("suffix", [":-5", ":-1", ":99", ":x", ":", ""])
async def test_a_stale_or_foreign_cursor_ends_the_stream_as_not_resumable(
    client: httpx.AsyncClient, fake_time: FakeTime, suffix: str
) -> None:
    """Negative, past-the-end, non-numeric or foreign cursors: as Gumloop, a 200 stream whose only event is
    ``finish`` with ``finishReason: not_resumable`` (not an HTTP 400; no replay of any event)."""
    sid = await _finished_session(client, fake_time)
    cursor = (sid + suffix) if suffix else "sess_other:1"
    params = {"stream": "true", "last_cursor": cursor}
    async with client.stream("GET", WS + f"/sessions/{sid}", params=params) as resp:
        assert resp.status_code == 200
        lines = [line async for line in resp.aiter_lines() if line]
    assert lines[0] == "event: finish"
    events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert len(events) == 1
    assert events[0]["finishReason"] == "not_resumable" and events[0]["final"] is True
    assert events[0]["type"] == "finish" and "last_cursor" in events[0]["data"]["reason"]
