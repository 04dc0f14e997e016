"""run_service: every service's event loop is uvloop, and it runs a coroutine to its result."""

from __future__ import annotations

import asyncio
import json

import pytest
import uvloop

from gumloop_mcp.runtime import run_service


def test_run_service_runs_the_coroutine_on_uvloop_and_returns_its_result() -> None:
    async def main() -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0)
        return type(loop).__module__, 42

    module, value = run_service(main())
    assert module == uvloop.Loop.__module__
    assert value == 42


def test_run_service_raises_what_the_coroutine_raises() -> None:
    async def main() -> None:
        raise ValueError("bad setting")

    with pytest.raises(ValueError, match="bad setting"):
        run_service(main())


def test_freezing_the_startup_heap_collects_first_and_freezes_what_is_alive() -> None:
    """freeze_startup_heap() leaves garbage to the collector and moves the live objects out of its reach."""
    import gc

    from gumloop_mcp.runtime import freeze_startup_heap

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    Cycle()  # unreachable cycle: collected first, never frozen
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 0
        assert not [o for o in gc.get_objects() if isinstance(o, Cycle)]
    finally:
        gc.unfreeze()  # the test process keeps its own collector as it was


def test_announce_serving_freezes_releases_then_prints_the_ready_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The entry points' on_ready: heap frozen, freed heap released (unless told not to), then the one
    JSON line `gumloop-mcp up` waits for."""
    from gumloop_mcp.runtime import _eventloop, announce_serving

    steps: list[str] = []
    monkeypatch.setattr(_eventloop, "freeze_startup_heap", lambda: steps.append("freeze"))
    monkeypatch.setattr(_eventloop, "release_free_memory", lambda: steps.append("release") or True)
    announce_serving("tokens", {"grpc": 5001, "metrics": 9101})
    assert steps == ["freeze", "release"]
    line = capsys.readouterr().out
    expected = {"event": "serving", "service": "tokens", "ports": {"grpc": 5001, "metrics": 9101}}
    assert json.loads(line) == expected
    assert line.endswith("}\n") and line.count("\n") == 1
    steps.clear()
    announce_serving("proxy", {"grpc": 5002}, release_heap=False)
    assert steps == ["freeze"]
    assert json.loads(capsys.readouterr().out)["service"] == "proxy"


def test_run_entry_point_configures_serves_announces_and_flushes_traces_even_on_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m services.<name>`: logging from the settings, tracing named after the service, serve on
    the service loop with announce_serving as on_ready, and the traces flushed even when serve fails."""
    from gumloop_mcp.runtime import ServiceSettings, _entry, run_entry_point

    steps: list[object] = []
    log = lambda level, json_format: steps.append(("log", level, json_format))  # noqa: E731
    monkeypatch.setattr(_entry, "configure", log)
    monkeypatch.setattr(_entry, "configure_tracing", lambda name: steps.append(("tracing", name)))
    monkeypatch.setattr(_entry, "shutdown_tracing", lambda: steps.append("flush"))
    monkeypatch.setattr(_entry, "announce_serving", lambda *a, **kw: steps.append(("ready", a, kw)))

    async def serve(settings: ServiceSettings, *, on_ready=None) -> None:  # type: ignore[no-untyped-def]
        steps.append(("serve", settings.host))
        on_ready({"grpc": 5003})
        if settings.host == "fail":
            raise RuntimeError("bind failed")

    run_entry_point("proxy", ServiceSettings(log_level="DEBUG", log_json=False), serve, release_heap=False)
    assert steps == [
        ("log", "DEBUG", False),
        ("tracing", "gumloop-mcp-proxy"),
        ("serve", "127.0.0.1"),
        ("ready", ("proxy", {"grpc": 5003}), {"release_heap": False}),
        "flush",
    ]
    steps.clear()
    with pytest.raises(RuntimeError, match="bind failed"):
        run_entry_point("tokens", ServiceSettings(host="fail"), serve)
    assert steps[1] == ("tracing", "gumloop-mcp-tokens") and steps[-1] == "flush"
    assert steps[-2] == ("ready", ("tokens", {"grpc": 5003}), {"release_heap": True})
