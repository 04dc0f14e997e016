"""The `claude_desktop_config.json` snippet for an MCP URL.

Claude Desktop does not accept a remote URL in its config file, so the snippet runs the
`mcp-remote` stdio bridge (`npx -y mcp-remote URL`). A second-factor API token travels in an env
variable referenced from the header argument (written without spaces: `Authorization:${AUTH}`,
which survives argument splitting on Windows).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["claude_desktop_config", "render_claude_desktop_config"]


def claude_desktop_config(url: str, *, api_token: str | None = None, name: str = "gumloop") -> dict[str, Any]:
    """The config object with one `mcpServers` entry bridging to `url`."""
    args = ["-y", "mcp-remote", url]
    entry: dict[str, Any] = {"command": "npx", "args": args}
    if api_token:
        args += ["--header", "Authorization:${AUTH_HEADER}"]
        entry["env"] = {"AUTH_HEADER": f"Bearer {api_token}"}
    return {"mcpServers": {name: entry}}


def render_claude_desktop_config(url: str, *, api_token: str | None = None, name: str = "gumloop") -> str:
    """The snippet as pretty JSON, ready to paste into `claude_desktop_config.json`."""
    return json.dumps(claude_desktop_config(url, api_token=api_token, name=name), indent=2)
