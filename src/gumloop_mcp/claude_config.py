"""The `claude_desktop_config.json` snippet for an MCP URL.

Claude Desktop does not accept a remote URL in its config file, so the snippet runs the
`mcp-remote` stdio bridge (`npx -y mcp-remote@0.15.1 URL`), pinned to the version the e2e suite
runs (tests/e2e/test_conformance.py).

By default the secret stays out of the URL: mcp-remote prints the URL it connects to on stderr,
which Claude Desktop writes to its log files. The snippet points at the tokenless `…/mcp` and
sends the URL token as `Authorization: Bearer gmcp_…` from an env variable referenced in the
header argument (written without spaces: `Authorization:${AUTH_HEADER}`, which survives argument
splitting on Windows; mcp-remote logs header names only). A second-factor API token then goes in
`X-Gumloop-MCP-API-Token`. `token_in_url=True` keeps the URL form (`…/mcp/gmcp_…`, the API token
in Authorization) for clients that only take a URL.

mcp-remote refuses a plain http:// URL unless its host is `localhost` or `127.0.0.1` (dist:
`isLocalhost`) or `--allow-http` is given, so any other http:// URL gets the flag (meant for
trusted private networks; use https:// elsewhere).
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "API_TOKEN_HEADER",
    "MCP_REMOTE",
    "claude_desktop_config",
    "needs_allow_http",
    "render_claude_desktop_config",
    "split_mcp_url",
]

MCP_REMOTE: Final = "mcp-remote@0.15.1"
# The façade's second-factor header on `/mcp` (services/mcp_facade/transport/app.py).
API_TOKEN_HEADER: Final = "X-Gumloop-MCP-API-Token"
# The hosts mcp-remote 0.15.1 accepts over plain http without --allow-http.
_HTTP_HOSTS: Final = ("localhost", "127.0.0.1")


def needs_allow_http(url: str) -> bool:
    """Whether mcp-remote needs `--allow-http` to connect to `url` (http:// off its loopback names)."""
    parts = urlsplit(url)
    return parts.scheme.lower() == "http" and (parts.hostname or "") not in _HTTP_HOSTS


def split_mcp_url(url: str) -> tuple[str, str]:
    """`https://host/prefix/mcp/gmcp_x` -> (`https://host/prefix/mcp`, `gmcp_x`); ValueError otherwise."""
    parts = urlsplit(url)
    head, _, token = parts.path.rstrip("/").rpartition("/")
    if parts.scheme.lower() not in ("http", "https") or not head.endswith("/mcp") or not token:
        raise ValueError(f"not an MCP URL of the form http(s)://HOST/mcp/<token>: {url!r}")
    return urlunsplit((parts.scheme, parts.netloc, head, "", "")), token


def claude_desktop_config(
    url: str, *, api_token: str | None = None, name: str = "gumloop", token_in_url: bool = False
) -> dict[str, Any]:
    """The config object with one `mcpServers` entry bridging to the MCP URL `url` (…/mcp/<token>)."""
    env: dict[str, str] = {}
    if token_in_url:
        args = ["-y", MCP_REMOTE, url]
        if api_token:
            env["AUTH_HEADER"] = f"Bearer {api_token}"
    else:
        base, token = split_mcp_url(url)
        args = ["-y", MCP_REMOTE, base]
        env["AUTH_HEADER"] = f"Bearer {token}"
    if needs_allow_http(url):
        args.append("--allow-http")
    if "AUTH_HEADER" in env:
        args += ["--header", "Authorization:${AUTH_HEADER}"]
    if api_token and not token_in_url:
        args += ["--header", f"{API_TOKEN_HEADER}:${{GUMLOOP_MCP_API_TOKEN}}"]
        env["GUMLOOP_MCP_API_TOKEN"] = api_token
    entry: dict[str, Any] = {"command": "npx", "args": args}
    if env:
        entry["env"] = env
    return {"mcpServers": {name: entry}}


def render_claude_desktop_config(
    url: str, *, api_token: str | None = None, name: str = "gumloop", token_in_url: bool = False
) -> str:
    """The snippet as pretty JSON, ready to paste into `claude_desktop_config.json`."""
    return json.dumps(
        claude_desktop_config(url, api_token=api_token, name=name, token_in_url=token_in_url), indent=2
    )
