"""Infrastructure: the emulator on a free loopback port with a controllable clock, and an httpx client."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from gumloop_mcp.emulator import EmulatorSettings, RunningEmulator, start_emulator


class FakeTime:
    """A settable time source."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    """The emulator's time source."""
    return FakeTime()


@pytest.fixture
async def emulator(fake_time: FakeTime) -> AsyncIterator[RunningEmulator]:
    """The emulator, limit 2 concurrent runs, time_scale 1 on the fake clock."""
    settings = EmulatorSettings(
        host="127.0.0.1", port=0, time_scale=1.0, max_concurrent_runs=2, signed_url_ttl_s=60
    )
    async with await start_emulator(settings, clock=fake_time) as running:
        yield running


@pytest.fixture
async def client(emulator: RunningEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client at the emulator's root."""
    headers: dict[str, Any] = {"Authorization": f"Bearer {emulator.api_key}", "x-auth-key": emulator.user_id}
    async with httpx.AsyncClient(base_url=emulator.base_url, headers=headers, timeout=10) as c:
        yield c


PlanClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def plan_client(fake_time: FakeTime) -> AsyncIterator[PlanClient]:
    """A factory: an authenticated client at a fresh emulator started with the given settings (e.g.
    ``plan="enterprise"``), time_scale 1 on the fake clock; everything closes after the test."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> httpx.AsyncClient:
            settings = EmulatorSettings(host="127.0.0.1", port=0, time_scale=1.0, **overrides)
            running = await stack.enter_async_context(await start_emulator(settings, clock=fake_time))
            headers = {"Authorization": f"Bearer {running.api_key}", "x-auth-key": running.user_id}
            return await stack.enter_async_context(
                httpx.AsyncClient(base_url=running.base_url, headers=headers, timeout=10)
            )

        yield make


def error_of(response: httpx.Response) -> dict[str, Any]:
    """``{code, message, param, details}`` of an error answer in any of Gumloop's three forms: the v1
    envelope ``{"error": {...}}``, the older endpoints' flat ``{"error": code, "message", "metadata"}``
    (param inside metadata), or a bare string (the legacy agent endpoints)."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, str):
        return {"code": body, "message": body, "param": None, "details": {}}
    error = body["error"]
    if isinstance(error, dict):
        return dict(error)
    metadata = dict(body.get("metadata") or {})
    param = metadata.pop("param", None)
    return {"code": error, "message": body["message"], "param": param, "details": metadata}
