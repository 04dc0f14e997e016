"""Path redaction of the access log."""

from __future__ import annotations

import re

from gumloop_mcp.runtime import TokenKind, generate_token
from services.mcp_facade.transport.accesslog import redact_path, request_id_from


def test_token_in_mcp_paths_is_redacted() -> None:
    """Every /mcp/<token>... path loses the token; other paths stay."""
    token = generate_token(TokenKind.MCP_URL)
    assert redact_path(f"/mcp/{token}") == "/mcp/<redacted>"
    assert redact_path(f"/mcp/{token}/sse") == "/mcp/<redacted>/sse"
    assert redact_path(f"/mcp/{token}/messages") == "/mcp/<redacted>/messages"
    assert redact_path("/healthz") == "/healthz"


def test_the_ingress_request_id_is_kept_when_tame_and_short() -> None:
    """X-Request-Id passes when it is [A-Za-z0-9._:-]{1,64}; anything else gets a fresh id."""
    assert request_id_from({"X-Request-Id": "lb-7f3a.1:2"}) == "lb-7f3a.1:2"
    for bad in ("x" * 65, "two words", "<script>", ""):
        made = request_id_from({"X-Request-Id": bad})
        assert made != bad and re.fullmatch(r"[0-9a-f]{16}", made)
    assert request_id_from({}) != request_id_from({})
