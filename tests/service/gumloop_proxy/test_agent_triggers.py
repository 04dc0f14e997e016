"""A webhook trigger's URL embeds its secret: it reaches the caller through the proxy but never a log line."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc

from .conftest import invoke


async def test_a_webhook_url_is_answered_but_never_logged(
    stub: pb_grpc.ProxyServiceStub,
    account: pb.IntegratedAccount,
    emulator: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """create_agent_trigger and get_agent_trigger_webhook_url answer the URL; no record at any level holds
    its secret; the trigger list does not carry it."""
    caplog.set_level(logging.DEBUG)
    arguments = {"agent_id": "agent_research", "type": "webhook", "prompt": "Handle the event"}
    _, created = await invoke(stub, account.id, "create_agent_trigger", arguments)
    url = created["trigger"]["webhook_url"]
    secret = parse_qs(urlsplit(url).query)["secret"][0]
    assert len(secret) >= 24
    ids = {"agent_id": "agent_research", "trigger_id": created["trigger"]["id"]}
    _, fetched = await invoke(stub, account.id, "get_agent_trigger_webhook_url", ids)
    assert fetched["webhook_url"] == url
    _, listed = await invoke(stub, account.id, "list_agent_triggers", {"agent_id": "agent_research"})
    assert secret not in str(listed)
    assert caplog.records and all(secret not in r.getMessage() for r in caplog.records)
    assert secret not in caplog.text
