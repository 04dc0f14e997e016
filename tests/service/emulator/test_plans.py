"""Gumloop's plans over real HTTP: Free/Pro refuse at their limits, Enterprise queues runs and sessions,
promotes them FIFO when a slot frees, and lets queued work be killed or cancelled."""

from typing import Any

import httpx
import pytest

from .conftest import FakeTime, PlanClient, error_of

A = "/api/v1"
U = {"user_id": "emu_user_1"}
FLOW = {**U, "saved_item_id": "si_weekly_report"}


async def _start_run(c: httpx.AsyncClient) -> str:
    r = await c.post(A + "/start_pipeline", json=FLOW)
    assert r.status_code == 200, r.text
    return str(r.json()["run_id"])


async def _run(c: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    r = await c.get(A + "/get_pl_run", params={**U, "run_id": run_id})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _states(c: httpx.AsyncClient, run_ids: list[str]) -> list[str]:
    return [(await _run(c, rid))["state"] for rid in run_ids]


async def _session(c: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    r = await c.get(A + f"/sessions/{session_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize(("plan", "runs", "agents"), [("free", 2, 5), ("pro", 5, 25)])
async def test_free_and_pro_refuse_work_over_their_own_limits_with_429(
    plan_client: PlanClient, plan: str, runs: int, agents: int
) -> None:
    """Runs and agent interactions have separate limits; the one over it is a 429 with rate-limit headers."""
    c = await plan_client(plan=plan)
    for _ in range(runs):
        await _start_run(c)
    refused = await c.post(A + "/start_pipeline", json=FLOW)
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "rate_limit_exceeded"
    assert "workflow runs" in error_of(refused)["message"]
    assert refused.headers["X-RateLimit-Limit"] == str(runs)
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["Retry-After"] == "3"
    for index in range(agents):
        r = await c.post(A + "/agents/agent_research/sessions", json={"input": f"job {index}"})
        assert r.status_code == 202 and r.json()["session"]["state"] == "processing"
    refused = await c.post(A + "/agents/agent_research/sessions", json={"input": "one too many"})
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Limit"] == str(agents)
    assert "agent interactions" in error_of(refused)["message"]
    listed = (await c.get(A + "/agents/agent_research/sessions", params={"search": "one too many"})).json()
    assert listed["sessions"] == []  # a refused session was never created


async def test_enterprise_queues_runs_past_15_and_promotes_them_fifo_as_slots_free(
    plan_client: PlanClient, fake_time: FakeTime
) -> None:
    """The 16th run is QUEUED; a kill frees a slot (after TERMINATING) for the oldest queued run."""
    c = await plan_client(plan="enterprise")
    running = [await _start_run(c) for _ in range(15)]
    assert set(await _states(c, running)) == {"RUNNING"}
    queued = [await _start_run(c) for _ in range(3)]
    assert await _states(c, queued) == ["QUEUED"] * 3
    first = await _run(c, queued[0])
    assert "finished_ts" not in first and first["outputs"] == {}
    assert any("queued" in line and "15" in line for line in first["log"])
    run_map = (await c.get(A + "/get_plrun_saved_item_map", params={**FLOW})).json()
    assert {r["run_id"]: r["state"] for r in run_map["si_weekly_report"]}[queued[2]] == "QUEUED"

    fake_time.now += 1
    assert (await c.post(A + "/kill_pipeline", json={**U, "run_id": running[0]})).json()["success"]
    assert await _states(c, [running[0], *queued]) == ["TERMINATING", "QUEUED", "QUEUED", "QUEUED"]
    fake_time.now += 0.5  # the kill completes: exactly one slot frees, for the oldest queued run
    assert await _states(c, [running[0], *queued]) == ["TERMINATED", "RUNNING", "QUEUED", "QUEUED"]
    fake_time.now += 1.5  # t0+3: the other 14 finish, both remaining queued runs start then
    assert set(await _states(c, running[1:])) == {"DONE"}
    assert await _states(c, queued) == ["RUNNING", "RUNNING", "RUNNING"]
    fake_time.now += 1.5  # t0+4.5: the first promoted run's 3 s (counted from its promotion) are up
    assert await _states(c, queued) == ["DONE", "RUNNING", "RUNNING"]
    fake_time.now += 1.5
    assert await _states(c, queued) == ["DONE", "DONE", "DONE"]
    assert any("left the queue" in line for line in (await _run(c, queued[0]))["log"])
    assert (await _run(c, queued[0]))["outputs"]["output"] == "Weekly report finished"


async def test_killing_a_queued_run_terminates_it_at_once_and_the_queue_skips_it(
    plan_client: PlanClient, fake_time: FakeTime
) -> None:
    """QUEUED -> TERMINATED immediately (nothing to stop); the next queued run takes the freed slot."""
    c = await plan_client(plan="enterprise", max_concurrent_runs=1)
    first, second, third = [await _start_run(c) for _ in range(3)]
    assert await _states(c, [first, second, third]) == ["RUNNING", "QUEUED", "QUEUED"]
    killed = await c.post(A + "/kill_pipeline", json={**U, "run_id": second})
    assert killed.json() == {"success": True, "run_id": second}
    view = await _run(c, second)
    assert view["state"] == "TERMINATED" and view["finished_ts"] is not None
    again = await c.post(A + "/kill_pipeline", json={**U, "run_id": second})
    assert again.json()["success"] is False
    fake_time.now += 3
    assert await _states(c, [first, second, third]) == ["DONE", "TERMINATED", "RUNNING"]


async def test_enterprise_queues_sessions_past_100_with_fifo_queue_positions(
    plan_client: PlanClient, fake_time: FakeTime
) -> None:
    """The 101st+ sessions are queued with positions 1, 2, 3; cancelling frees or leaves the queue."""
    c = await plan_client(plan="enterprise")
    busy = []
    for index in range(100):
        r = await c.post(A + "/agents/agent_research/sessions", json={"input": f"job {index}"})
        assert r.status_code == 202 and r.json()["queue_position"] is None
        busy.append(r.json()["session"]["id"])
    queued = []
    for index in range(3):
        r = await c.post(A + "/agents/agent_support/sessions", json={"input": f"waiting {index}"})
        assert r.status_code == 202
        assert r.json()["session"]["state"] == "queued"
        assert r.json()["queue_position"] == index + 1
        assert r.json()["session"]["messages"][-1]["content"] == f"waiting {index}"
        queued.append(r.json()["session"]["id"])
    assert [(await _session(c, s))["queue_position"] for s in queued] == [1, 2, 3]
    stream_host = (await c.get(f"/ws/api/v1/sessions/{queued[2]}")).json()
    assert stream_host["session"]["state"] == "queued" and stream_host["queue_position"] == 3
    busy_again = await c.post(A + f"/sessions/{queued[0]}/messages", json={"input": "more"})
    assert busy_again.status_code == 409

    cancelled = await c.post(A + f"/sessions/{queued[1]}/cancel", json={})
    assert cancelled.json()["session"]["state"] == "failed" and cancelled.json()["queue_position"] is None
    assert [(await _session(c, s))["queue_position"] for s in (queued[0], queued[2])] == [1, 2]

    fake_time.now += 1
    await c.post(A + f"/sessions/{busy[0]}/cancel", json={})  # a processing session frees its slot at once
    promoted = await _session(c, queued[0])
    assert promoted["session"]["state"] == "processing" and promoted["queue_position"] is None
    last = await _session(c, queued[2])
    assert last["session"]["state"] == "queued" and last["queue_position"] == 1
    fake_time.now += 3  # t0+4: the other 99 complete; the last queued session starts then
    assert (await _session(c, queued[2]))["session"]["state"] == "processing"
    assert (await _session(c, queued[0]))["session"]["state"] == "processing"  # started at t0+1
    fake_time.now += 1
    done = await _session(c, queued[0])
    assert done["session"]["state"] == "completed"
    assert done["session"]["messages"][-1]["content"] == "Done: waiting 0"
    assert (await _session(c, queued[1]))["session"]["state"] == "failed"  # cancelled ones stay failed


async def test_queued_work_does_not_count_and_a_shared_pool_promotes_across_kinds_in_order(
    plan_client: PlanClient, fake_time: FakeTime
) -> None:
    """With one shared slot: run, legacy interaction and session wait in arrival order, one at a time."""
    c = await plan_client(plan="enterprise", max_concurrent_runs=1)
    run = await _start_run(c)
    started = await c.post(A + "/start_agent", json={**U, "gummie_id": "agent_research", "message": "hi"})
    assert started.status_code == 202
    interaction = started.json()["interaction_id"]
    created = await c.post(A + "/agents/agent_research/sessions", json={"input": "after both"})
    session = created.json()["session"]["id"]
    assert created.json()["queue_position"] == 2  # the queued interaction is ahead of it
    status = (await c.get(A + f"/agent_status/{interaction}", params=U)).json()
    assert status["state"] == "ASYNC_PROCESSING"  # the legacy API has no queued state

    fake_time.now += 3  # the run finishes; only the interaction gets the slot
    assert (await _run(c, run))["state"] == "DONE"
    waiting = await _session(c, session)
    assert waiting["session"]["state"] == "queued" and waiting["queue_position"] == 1
    fake_time.now += 3  # the interaction (3 s from its promotion) completes; the session starts
    status = (await c.get(A + f"/agent_status/{interaction}", params=U)).json()
    assert status["state"] == "COMPLETED"
    assert (await _session(c, session))["session"]["state"] == "processing"
    fake_time.now += 4
    assert (await _session(c, session))["session"]["state"] == "completed"
    assert (await _run(c, await _start_run(c)))["state"] == "RUNNING"  # finished work holds no slot
    sent = await c.post(A + f"/sessions/{session}/messages", json={"input": "again"})
    assert sent.status_code == 202
    assert sent.json()["session"]["state"] == "queued" and sent.json()["queue_position"] == 1


async def test_without_a_plan_one_pool_of_three_refuses_the_fourth_piece_of_work(
    plan_client: PlanClient,
) -> None:
    """The historical default: runs and sessions share 3 slots; the 4th is a 429."""
    c = await plan_client()
    await _start_run(c)
    await _start_run(c)
    assert (await c.post(A + "/agents/agent_research/sessions", json={"input": "x"})).status_code == 202
    refused = await c.post(A + "/start_pipeline", json=FLOW)
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Limit"] == "3"
