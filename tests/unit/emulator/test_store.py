"""State progression on a fake clock and concurrency limits."""

import pytest

from gumloop_mcp.emulator.errors import ApiError
from gumloop_mcp.emulator.plans import concurrency
from gumloop_mcp.emulator.seed import seed
from gumloop_mcp.emulator.store import Job, Run, Session, Store


def _store(scale: float = 1.0, limit: int = 2) -> Store:
    store = Store("u", "t", scale, concurrency(None, limit))
    seed(store, 1_000_000.0)
    return store


def test_a_run_is_running_until_its_scaled_delay_passes_then_done() -> None:
    """RUNNING -> DONE exactly at the deadline."""
    store = _store()
    store.runs["r"] = Run("r", "si_weekly_report", "u", "RUNNING", 0.0, {}, due=3.0)
    store.advance(2.99)
    assert store.runs["r"].state == "RUNNING"
    store.advance(3.0)
    assert store.runs["r"].state == "DONE"
    assert store.runs["r"].outputs["output"] == "Weekly report finished"


def test_a_session_completes_with_an_assistant_message_and_artifacts() -> None:
    """processing -> completed, reply and ten artifacts of different media types."""
    store = _store()
    s = Session("s", "agent_research", "n", "processing", 0.0, due=4.0)
    s.messages.append({"role": "user", "content": "quarterly numbers"})
    store.sessions["s"] = s
    store.advance(4.0)
    assert s.state == "completed"
    assert s.messages[-1]["role"] == "assistant"
    types = {a["metadata"]["media_type"] for a in store.artifacts.values() if a["session_id"] == "s"}
    assert {"application/pdf", "image/png", "text/csv", "application/zip"} <= types
    assert len(types) == 10


def test_an_export_goes_through_in_progress_to_completed() -> None:
    """REQUESTED -> IN_PROGRESS -> COMPLETED."""
    store = _store(scale=1.0)
    store.jobs["e"] = Job("e", "export", "REQUESTED", 0.0, 1.0)
    store.advance(1.0)
    assert store.jobs["e"].state == "IN_PROGRESS"
    store.advance(5.0)
    assert store.jobs["e"].state == "COMPLETED"


def test_capacity_is_enforced_with_rate_limit_headers() -> None:
    """At the limit a 429 carries X-RateLimit-* and Retry-After."""
    store = _store(limit=1)
    store.runs["r"] = Run("r", "si_weekly_report", "u", "RUNNING", 0.0, {}, due=10.0)
    with pytest.raises(ApiError) as err:
        store.admit("run", 4.0)
    assert err.value.status == 429
    assert err.value.headers["Retry-After"] == "6"
    assert err.value.headers["X-RateLimit-Limit"] == "1"
    assert err.value.headers["X-RateLimit-Remaining"] == "0"


def test_the_seed_has_a_failed_run_from_yesterday_explaining_itself() -> None:
    """Scenario 1 data."""
    store = _store()
    run = store.runs["run_lead_failed_yesterday"]
    assert run.state == "FAILED"
    assert 1_000_000.0 - run.created_ts == 86400
    assert any("Clearbit" in line and "401" in line for line in run.log)


def _enterprise(limit: int) -> Store:
    return Store("u", "t", 1.0, concurrency("enterprise", limit))  # unseeded: every slot free


def test_queued_work_starts_when_the_slot_frees_not_when_someone_looks() -> None:
    """A run queued behind one due at 3 starts at 3, so it is DONE at 6 even if nobody asked in between."""
    store = _enterprise(1)
    first = Run("a", "si_weekly_report", "u", "RUNNING", 0.0, {})
    second = Run("b", "si_weekly_report", "u", "RUNNING", 0.0, {})
    for run in (first, second):
        admitted = store.admit("run", 0.0)
        store.runs[run.run_id] = run
        assert store.start("run", run, 0.0, admitted=admitted) == (None if run is first else 1)
    assert second.state == "QUEUED" and second.due is None
    store.advance(5.9)
    assert (first.state, second.state) == ("DONE", "RUNNING")
    store.advance(6.0)
    assert second.state == "DONE" and second.finished_ts == 6.0


def test_queue_positions_are_per_pool_and_shift_when_work_leaves() -> None:
    """Sessions and runs queue separately under a plan; dequeue moves later work up."""
    store = Store("u", "t", 1.0, concurrency("enterprise", None))
    for index in range(100):
        s = Session(f"busy{index}", "agent_research", "n", "idle", 0.0)
        store.sessions[s.id] = s
        store.start("session", s, 0.0, admitted=store.admit("session", 0.0))
    waiting = [Session(f"w{index}", "agent_research", "n", "idle", 0.0) for index in range(3)]
    for s in waiting:
        store.sessions[s.id] = s
        store.start("session", s, 0.0, admitted=store.admit("session", 0.0))
    assert store.admit("run", 0.0) is True  # runs have their own 15 slots
    assert [store.queue_position("session", s.id) for s in waiting] == [1, 2, 3]
    assert store.dequeue("session", "w0") and not store.dequeue("session", "w0")
    assert [store.queue_position("session", s.id) for s in waiting] == [None, 1, 2]
