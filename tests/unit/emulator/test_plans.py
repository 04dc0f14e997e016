"""Plan limits and the settings that choose them."""

import pytest

from gumloop_mcp.emulator.plans import Concurrency, concurrency
from gumloop_mcp.emulator.settings import EmulatorSettings


@pytest.mark.parametrize(
    ("plan", "runs", "agents", "queue"),
    [("free", 2, 5, False), ("pro", 5, 25, False), ("enterprise", 15, 100, True)],
)
def test_each_plan_has_gumloops_limits_per_kind_and_only_enterprise_queues(
    plan: str, runs: int, agents: int, queue: bool
) -> None:
    """Free 2/5, Pro 5/25, Enterprise 15/100 (runs/agent interactions); separate pools."""
    c = concurrency(plan, None)  # type: ignore[arg-type]
    assert (c.limit(c.pool("run")), c.limit(c.pool("session")), c.queue) == (runs, agents, queue)
    assert c.pool("run") == "runs" and c.pool("session") == c.pool("interaction") == "agents"


def test_no_plan_is_one_shared_pool_of_three_that_refuses() -> None:
    """The historical default."""
    assert concurrency(None, None) == Concurrency(3, 3, queue=False, shared=True)


def test_an_explicit_max_concurrent_runs_overrides_the_numbers_but_not_the_queueing() -> None:
    """One shared pool of that size; Enterprise still queues, Pro still refuses."""
    assert concurrency("enterprise", 2) == Concurrency(2, 2, queue=True, shared=True)
    assert concurrency("pro", 7) == Concurrency(7, 7, queue=False, shared=True)
    assert concurrency(None, 2).pool("run") == concurrency(None, 2).pool("session") == "shared"


def test_the_plan_comes_from_the_environment_case_insensitively(monkeypatch: pytest.MonkeyPatch) -> None:
    """GMCP_EMULATOR_PLAN=Enterprise selects enterprise; an unknown plan is refused."""
    monkeypatch.setenv("GMCP_EMULATOR_PLAN", "Enterprise")
    assert EmulatorSettings().plan == "enterprise"
    assert EmulatorSettings().max_concurrent_runs is None
    monkeypatch.setenv("GMCP_EMULATOR_PLAN", "platinum")
    with pytest.raises(ValueError, match="plan"):
        EmulatorSettings()
