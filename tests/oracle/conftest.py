"""The oracle: Gumloop's own SDK (``gumloop``, from the lock) and OpenAPI documents judge the emulator.

``emulator`` runs in-process on 127.0.0.1 on a settable clock; ``Answers`` records every JSON answer a
client received (an httpx response hook), so a test can check each against the documents."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from gumloop import AsyncGumloop

from gumloop_mcp.emulator import EmulatorSettings, RunningEmulator, start_emulator


class FakeTime:
    """A settable time source for the emulator."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Answer:
    """One answer a client received."""

    method: str
    path: str
    status: int
    body: Any


@dataclass
class Answers:
    """Every JSON answer the hooked clients received."""

    items: list[Answer] = field(default_factory=list)

    def _keep(self, response: httpx.Response) -> None:
        if not response.headers.get("content-type", "").startswith("application/json"):
            return
        body = json.loads(response.content) if response.content else None
        self.items.append(
            Answer(response.request.method, response.request.url.path, response.status_code, body)
        )

    async def hook(self, response: httpx.Response) -> None:
        """An async client's response hook."""
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            await response.aread()
            self._keep(response)

    def sync_hook(self, response: httpx.Response) -> None:
        """A sync client's response hook."""
        response.read()
        self._keep(response)


@pytest.fixture
def fake_time() -> FakeTime:
    """The emulator's clock."""
    return FakeTime()


@pytest.fixture
async def emulator(fake_time: FakeTime) -> AsyncIterator[RunningEmulator]:
    """The emulator on a free loopback port, time_scale 1 on the fake clock."""
    settings = EmulatorSettings(host="127.0.0.1", port=0, time_scale=1.0, max_concurrent_runs=5)
    async with await start_emulator(settings, clock=fake_time) as running:
        yield running


@pytest.fixture
def answers() -> Iterator[Answers]:
    """The recorder."""
    yield Answers()


@pytest.fixture
async def sdk(emulator: RunningEmulator, answers: Answers) -> AsyncIterator[AsyncGumloop]:
    """The official async client at the emulator, every answer recorded."""
    client = AsyncGumloop(
        api_key=emulator.api_key,
        user_id=emulator.user_id,
        base_url=emulator.api_base_url,
        stream_base_url=emulator.stream_base_url,
        timeout=10,
    )
    client._http._client.event_hooks["response"].append(answers.hook)
    async with client:
        yield client


async def ticking(fake_time: FakeTime, stop: asyncio.Event, step: float = 1.0) -> None:
    """Move the emulator's clock on while a blocking client polls (from another thread)."""
    while not stop.is_set():
        fake_time.now += step
        await asyncio.sleep(0.005)
