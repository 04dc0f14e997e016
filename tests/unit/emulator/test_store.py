"""State progression on a fake clock and concurrency limits."""

import pytest

from gumloop_mcp.emulator.errors import ApiError
from gumloop_mcp.emulator.seed import seed
from gumloop_mcp.emulator.store import Job, Run, Session, Store


def _store(scale: float = 1.0, limit: int = 2) -> Store:
    store = Store("u", "t", scale, limit)
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
        store.check_capacity(4.0)
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
