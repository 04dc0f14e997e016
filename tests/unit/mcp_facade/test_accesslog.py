"""Path redaction of the access log."""

from __future__ import annotations

from gumloop_mcp.runtime import TokenKind, generate_token
from services.mcp_facade.transport.accesslog import redact_path


def test_token_in_mcp_paths_is_redacted() -> None:
    """Every /mcp/<token>... path loses the token; other paths stay."""
    token = generate_token(TokenKind.MCP_URL)
    assert redact_path(f"/mcp/{token}") == "/mcp/<redacted>"
    assert redact_path(f"/mcp/{token}/sse") == "/mcp/<redacted>/sse"
    assert redact_path(f"/mcp/{token}/messages") == "/mcp/<redacted>/messages"
    assert redact_path("/healthz") == "/healthz"
