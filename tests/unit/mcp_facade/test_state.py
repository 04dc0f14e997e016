"""The in-memory façade state (one process): expiry, bounds and message delivery."""

from __future__ import annotations

from typing import Any

import pytest

from services.mcp_facade.metrics import FacadeMetrics
from services.mcp_facade.server import open_state
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.state.state import MemoryState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _task(task_id: str, server: str = "s1", created: float = 1000.0, ttl: int = 5000) -> dict[str, Any]:
    return {
        "id": task_id,
        "server": server,
        "owner": "r",
        "status": "working",
        "created": created,
        "ttl": ttl,
    }


async def test_session_records_expire_with_the_session() -> None:
    """An ended session and its level are forgotten once the session itself has expired."""
    clock = Clock()
    state = MemoryState(clock=clock)
    await state.set_session_level("n1", "debug", expires_at=1010)
    await state.end_session("n2", expires_at=1010)
    assert await state.session_state("n1") == (False, "debug")
    assert await state.session_state("n2") == (True, None)
    clock.now = 1010
    assert await state.session_state("n1") == (False, None)
    assert await state.session_state("n2") == (False, None)


async def test_task_records_expire_after_their_ttl_and_updates_keep_the_expiry() -> None:
    """A record lives `ttl` ms from creation; an update neither revives nor extends it."""
    clock = Clock()
    state = MemoryState(clock=clock)
    await state.create_task(_task("t1"))
    clock.now = 1004
    await state.update_task({**_task("t1"), "status": "completed"})
    assert (await state.load_task("s1", "t1") or {})["status"] == "completed"
    clock.now = 1005
    assert await state.load_task("s1", "t1") is None
    await state.update_task({**_task("t1"), "status": "failed"})
    assert await state.load_task("s1", "t1") is None
    assert await state.list_tasks("s1") == []


async def test_send_reaches_only_this_replica_and_broadcast_reaches_it_too() -> None:
    """send() to this replica calls the handler of the message kind; other replicas do not exist."""
    state = MemoryState()
    seen: list[dict[str, Any]] = []
    state.on_message("ping", seen.append)
    assert await state.send(state.replica_id, {"kind": "ping", "n": 1}) is True
    assert await state.send("someone-else", {"kind": "ping", "n": 2}) is False
    assert await state.send(state.replica_id, {"kind": "unhandled"}) is False
    await state.broadcast({"kind": "ping", "n": 3})
    assert [m["n"] for m in seen] == [1, 3]
    assert await state.replica_alive(state.replica_id) is True
    assert await state.replica_alive("someone-else") is False


async def test_stream_presence_expires_without_refresh() -> None:
    """A claimed stream names this replica until its ttl passes or it is released."""
    clock = Clock()
    state = MemoryState(clock=clock)
    await state.claim_stream("c1", "s1", 30)
    assert await state.stream_owner("c1") == (state.replica_id, "s1")
    clock.now += 31
    assert await state.stream_owner("c1") is None
    await state.claim_stream("c2", "s1", 30)
    await state.release_stream("c2")
    assert await state.stream_owner("c2") is None


def test_redis_store_without_url_is_refused_clearly() -> None:
    """store=redis without redis_url fails at start, naming the missing setting."""
    with pytest.raises(ValueError, match="GMCP_FACADE_REDIS_URL is required"):
        open_state(FacadeSettings(store="redis"))
    assert isinstance(open_state(FacadeSettings()), MemoryState)


def test_a_backend_failure_is_counted_and_trips_the_fail_open_breaker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """degraded() counts the feature, warns once (without the error text) and trips tripped()."""
    metrics = FacadeMetrics()
    state = MemoryState(metrics)
    assert state.tripped("budget") is False
    secret_text = "redis://:hunter2@db:6379"
    state.degraded("budget", ConnectionError(secret_text))
    state.degraded("budget", ConnectionError(secret_text))
    assert state.tripped("budget") is True
    sample = metrics.registry.get_sample_value("gmcp_facade_state_unavailable_total", {"feature": "budget"})
    assert sample == 3.0  # two failures and one fail-open skip
    warnings = [r.getMessage() for r in caplog.records if "unavailable for budget" in r.getMessage()]
    assert warnings == ["façade state unavailable for budget (ConnectionError); failing open"]
    assert "hunter2" not in caplog.text
