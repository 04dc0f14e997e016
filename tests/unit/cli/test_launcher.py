"""`up`'s supervisor: restarts with capped back-off on the same ports, crash-loop stop, prompt stop."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gumloop_mcp import launcher
from gumloop_mcp.launcher import ChildExited, Supervisor, describe_exit, restart_delay
from services.gumloop_proxy.settings import ProxySettings
from services.mcp_facade.settings import FacadeSettings
from services.tokens.settings import TokenSettings

# A service stand-in: announces a port (the pinned one, or its own pick for 0), records the env it
# got, then exits with code 3 for its first `FAKE_CRASHES` runs and serves (sleeps) after that.
FAKE_SERVICE = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path

    runs = Path(os.environ["FAKE_RUNS"])
    run = len(runs.read_text().splitlines()) if runs.exists() else 0
    port = int(os.environ["FAKE_PORT"]) or 40000 + os.getpid() % 1000
    with runs.open("a") as out:
        out.write(os.environ["FAKE_PORT"] + "\\n")
    print(json.dumps({"event": "serving", "ports": {"http": port}}), flush=True)
    if run < int(os.environ["FAKE_CRASHES"]):
        sys.exit(3)
    time.sleep(60)
    """
)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The env that runs FAKE_SERVICE as module `fakesvc`, with fast restarts."""
    (tmp_path / "fakesvc.py").write_text(FAKE_SERVICE)
    monkeypatch.setitem(launcher.PORT_ENV, "fakesvc", {"http": "FAKE_PORT"})
    monkeypatch.setattr(launcher, "RESTART_BACKOFF_INITIAL_S", 0.01)
    monkeypatch.setattr(launcher, "CRASH_LOOP_LIMIT", 3)
    return {"PYTHONPATH": str(tmp_path), "FAKE_PORT": "0", "FAKE_RUNS": str(tmp_path / "runs")}


def test_restart_delay_doubles_per_recent_crash_up_to_the_cap() -> None:
    delays = [restart_delay(n) for n in range(1, 10)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays[-1] == launcher.RESTART_BACKOFF_MAX_S
    assert delays == sorted(delays)


def test_describe_exit_names_the_signal_or_the_code() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(0) == "exit code 0"


@pytest.mark.parametrize(
    ("module", "settings"),
    [
        ("services.tokens", TokenSettings),
        ("services.gumloop_proxy", ProxySettings),
        ("services.mcp_facade", FacadeSettings),
    ],
)
def test_port_env_names_are_the_ones_the_services_read(
    module: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pinned env variable really sets the port the service announces under that name."""
    fields = {"grpc": "grpc_port", "metrics": "metrics_port", "http": "port", "admin": "admin_port"}
    for offset, (port_name, env) in enumerate(launcher.PORT_ENV[module].items()):
        monkeypatch.setenv(env, str(20000 + offset))
        assert getattr(settings(), fields[port_name]) == 20000 + offset, (module, env)


async def test_a_crashed_child_is_restarted_on_its_first_port(fake: dict[str, str], tmp_path: Path) -> None:
    """One crash: a `restarting` event (exit code, count, delay), then the same port again."""
    events: list[dict[str, Any]] = []
    stop = asyncio.Event()

    def on_event(event: dict[str, Any]) -> None:
        events.append(event)
        if event["event"] == "serving":
            stop.set()

    sup = Supervisor(on_event=on_event)
    child = await sup.start("fake", "fakesvc", {**fake, "FAKE_CRASHES": "1"})
    first = child.ports
    try:
        await asyncio.wait_for(sup.supervise(stop), 30)
    finally:
        await sup.stop_all()
    assert events == [
        {"event": "restarting", "service": "fake", "exit": "exit code 3", "restart": 1, "delay_s": 0.01},
        {"event": "serving", "service": "fake", "ports": first, "restart": 1},
    ]
    assert (tmp_path / "runs").read_text().splitlines() == ["0", str(first["http"])]


async def test_a_crash_looping_child_raises_naming_it(
    fake: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """CRASH_LOOP_LIMIT crashes within the window end supervision with ChildExited naming the child."""
    events: list[dict[str, Any]] = []
    sup = Supervisor(on_event=events.append)
    await sup.start("fake", "fakesvc", {**fake, "FAKE_CRASHES": "99"})
    try:
        with pytest.raises(ChildExited) as raised:
            await asyncio.wait_for(sup.supervise(asyncio.Event()), 30)
    finally:
        await sup.stop_all()
    assert str(raised.value).startswith("fake crashed 3 times within 120s (last: exit code 3)")
    assert [e.get("restart") for e in events if e["event"] == "restarting"] == [1, 2]
    assert [e["delay_s"] for e in events if e["event"] == "restarting"] == [0.01, 0.02]
    assert events[-1] == {"event": "crash_loop", "service": "fake", "exit": "exit code 3"}
    assert "fake exited unexpectedly (exit code 3); restart 2 in 0.0s" in caplog.text


async def test_stop_during_the_back_off_returns_at_once(
    fake: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop that arrives while a restart waits out its back-off does not wait for the back-off."""
    monkeypatch.setattr(launcher, "RESTART_BACKOFF_INITIAL_S", 30.0)
    stop = asyncio.Event()
    sup = Supervisor(on_event=lambda event: stop.set())
    await sup.start("fake", "fakesvc", {**fake, "FAKE_CRASHES": "1"})
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await asyncio.wait_for(sup.supervise(stop), 10)
    finally:
        await sup.stop_all()
    assert loop.time() - started < 5
    assert sup.children[0].restarts == 1
    assert sup.children[0].process is not None and sup.children[0].process.returncode == 3
