"""The `claude_desktop_config.json` snippet for an MCP URL.

Claude Desktop does not accept a remote URL in its config file, so the snippet runs the
`mcp-remote` stdio bridge (`npx -y mcp-remote@0.15.1 URL`), pinned to the version the e2e suite
runs (tests/e2e/test_conformance.py). mcp-remote refuses a plain http:// URL unless its host is
`localhost` or `127.0.0.1` (dist: `isLocalhost`) or `--allow-http` is given, so any other http://
URL gets the flag (meant for trusted private networks; use https:// elsewhere). A second-factor
API token travels in an env variable referenced from the header argument (written without
spaces: `Authorization:${AUTH}`, which survives argument splitting on Windows).
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = ["MCP_REMOTE", "claude_desktop_config", "needs_allow_http", "render_claude_desktop_config"]

MCP_REMOTE: Final = "mcp-remote@0.15.1"
# The hosts mcp-remote 0.15.1 accepts over plain http without --allow-http.
_HTTP_HOSTS: Final = ("localhost", "127.0.0.1")


def needs_allow_http(url: str) -> bool:
    """Whether mcp-remote needs `--allow-http` to connect to `url` (http:// off its loopback names)."""
    parts = urlsplit(url)
    return parts.scheme.lower() == "http" and (parts.hostname or "") not in _HTTP_HOSTS


def claude_desktop_config(url: str, *, api_token: str | None = None, name: str = "gumloop") -> dict[str, Any]:
    """The config object with one `mcpServers` entry bridging to `url`."""
    args = ["-y", MCP_REMOTE, url]
    if needs_allow_http(url):
        args.append("--allow-http")
    entry: dict[str, Any] = {"command": "npx", "args": args}
    if api_token:
        args += ["--header", "Authorization:${AUTH_HEADER}"]
        entry["env"] = {"AUTH_HEADER": f"Bearer {api_token}"}
    return {"mcpServers": {name: entry}}


def render_claude_desktop_config(url: str, *, api_token: str | None = None, name: str = "gumloop") -> str:
    """The snippet as pretty JSON, ready to paste into `claude_desktop_config.json`."""
    return json.dumps(claude_desktop_config(url, api_token=api_token, name=name), indent=2)
