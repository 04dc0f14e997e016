"""The shared process lifecycle: start, report ports, stop gracefully."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gumloop_mcp.runtime import serve_until_stopped


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self, grace_s: float) -> None:
        self.events.append(f"stop {grace_s}")


def _returning(service: Recorder) -> Callable[[], Awaitable[Recorder]]:
    async def create() -> Recorder:
        return service

    return create


async def test_serves_until_stop_and_stops_with_the_grace_period() -> None:
    """on_ready gets the ports after start; setting stop stops the service with its grace."""
    service, stop, ready = Recorder(), asyncio.Event(), []
    task = asyncio.create_task(
        serve_until_stopped(
            _returning(service), ports=lambda _: {"grpc": 4242}, grace_s=2.5, stop=stop, on_ready=ready.append
        )
    )
    while not ready:
        await asyncio.sleep(0)
    assert ready == [{"grpc": 4242}] and service.events == ["start"]
    stop.set()
    await asyncio.wait_for(task, 5)
    assert service.events == ["start", "stop 2.5"]


async def test_a_failing_start_still_stops_the_service() -> None:
    """Resources opened before a failed start are released."""

    class Broken(Recorder):
        async def start(self) -> None:
            raise OSError("port taken")

    service = Broken()
    with pytest.raises(OSError, match="port taken"):
        await serve_until_stopped(_returning(service), ports=lambda _: {}, grace_s=0.0, stop=asyncio.Event())
    assert service.events == ["stop 0.0"]
