"""Browser cookies handed to import_browser_profile_cookies are secrets (they sign agents in as the user):
they reach Gumloop and nothing else — no log line, no answer, no emulator request log carries them."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc

from .conftest import invoke

SECRET = "cookie-secret-4f1d9a7c"


async def test_imported_cookie_values_are_never_logged_or_answered(
    stub: pb_grpc.ProxyServiceStub,
    account: pb.IntegratedAccount,
    emulator: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The import succeeds (the profile counts one github.com cookie) with DEBUG logging on, and the value
    appears in no log record, in no answer and in no recorded request."""
    caplog.set_level(logging.DEBUG)
    cookie = {"name": "user_session", "value": SECRET, "domain": ".github.com", "httpOnly": True}
    arguments = {"profile_id": "default", "url": "https://github.com", "cookies": [cookie]}
    response, body = await invoke(stub, account.id, "import_browser_profile_cookies", arguments)
    assert response.http_status == 200
    assert body["imported"] == {
        "site": "github.com",
        "cookie_count": 1,
        "skipped": 0,
        "sites": ["github.com"],
    }
    assert SECRET not in response.body_json
    _, profile = await invoke(stub, account.id, "get_browser_profile", {"profile_id": "default"})
    assert [s["domain"] for s in profile["sites"]] == ["github.com"] and SECRET not in str(profile)
    bad = dict(arguments, cookies=[{**cookie, "sameSite": "sometimes"}])
    with pytest.raises(Exception) as refused:  # schema refusal: names the field, never echoes the value
        await invoke(stub, account.id, "import_browser_profile_cookies", bad)
    assert SECRET not in str(refused.value)
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    assert SECRET not in caplog.text
    async with httpx.AsyncClient() as client:
        seen = (await client.get(f"{emulator.base_url}/__emulator/requests")).text
    assert SECRET not in seen


@pytest.mark.parametrize(
    "cookies",
    [
        [SECRET],
        [{"name": "sid", "value": 4242, "domain": SECRET}],
        [{"name": "sid", "value": SECRET, "domain": "x.com", "sameSite": SECRET}],
    ],
)
async def test_a_refused_cookie_is_named_by_its_place_never_echoed(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any, cookies: list[Any]
) -> None:
    """A cookie the schema refuses is reported by its path in the arguments, without its content."""
    arguments = {"profile_id": "default", "cookies": cookies}
    with pytest.raises(Exception) as refused:
        await invoke(stub, account.id, "import_browser_profile_cookies", arguments)
    assert "cookies" in str(refused.value) and SECRET not in str(refused.value)
