"""The redacting log filter keeps secrets out of every log line."""

import io
import json
import logging

from gumloop_mcp.runtime import TokenKind, configure, generate_token


def test_tokens_in_messages_args_and_paths_are_redacted() -> None:
    """A token passed as an argument, inside a path, or as a bearer value never reaches the output."""
    stream = io.StringIO()
    configure("DEBUG", json_format=True, stream=stream)
    token = generate_token(TokenKind.MCP_URL)
    log = logging.getLogger("test.redaction")
    log.info("resolving %s", token)
    log.info("POST /mcp/%s HTTP/1.1", token)
    log.warning("Authorization: Bearer %s", "sk-live-abcdefgh12345678")
    try:
        raise ValueError(f"bad token {token}")
    except ValueError:
        log.exception("failed")
    output = stream.getvalue()
    assert token not in output
    assert "sk-live-abcdefgh12345678" not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[1]["message"] == "POST /mcp/[REDACTED] HTTP/1.1"
    assert lines[0]["level"] == "INFO"
    logging.getLogger().handlers.clear()
