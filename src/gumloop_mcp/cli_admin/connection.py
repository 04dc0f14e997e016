"""Where the management API is and which token to send: flags, then env, then what `up` stored.

- URL: `--api-url`, else env GMCP_API_URL, else the admin URL `up` last wrote to
  `<data-dir>/endpoints.json`, else http://127.0.0.1:8081.
- Token: env GMCP_API_TOKEN, else `<data-dir>/api-token` (written by `up`). Never a flag, so that
  it stays out of `ps` and shell history.
- Data directory: `--data-dir`, else env GMCP_DATA_DIR, else `.gumloop-mcp`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gumloop_mcp.bootstrap import API_TOKEN_FILE, DEMO_SERVER_FILE
from gumloop_mcp.launcher import read_secret_file, write_secret_file

__all__ = [
    "API_TOKEN_FILE",
    "DEFAULT_API_URL",
    "DEFAULT_MCP_BASE_URL",
    "DEMO_SERVER_FILE",
    "ENDPOINTS_FILE",
    "Endpoints",
    "NoApiToken",
    "api_token",
    "api_url",
    "data_dir",
    "demo_server_token",
    "read_endpoints",
    "write_endpoints",
]

DEFAULT_API_URL: Final = "http://127.0.0.1:8081"
DEFAULT_MCP_BASE_URL: Final = "http://127.0.0.1:8080"
ENDPOINTS_FILE: Final = "endpoints.json"


class NoApiToken(Exception):
    """Neither GMCP_API_TOKEN nor `<data-dir>/api-token` holds a management API token."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The URLs `up` served on last (no secrets)."""

    mcp_base_url: str
    admin_url: str


def data_dir(flag: Path | None) -> Path:
    """The data directory: the flag, env GMCP_DATA_DIR, or `.gumloop-mcp`."""
    return flag or Path(os.environ.get("GMCP_DATA_DIR") or ".gumloop-mcp")


def write_endpoints(directory: Path, endpoints: Endpoints) -> None:
    """Remember where `up` serves, for the CLI's defaults."""
    body = {"mcp_base_url": endpoints.mcp_base_url, "admin_url": endpoints.admin_url}
    write_secret_file(directory / ENDPOINTS_FILE, json.dumps(body))


def read_endpoints(directory: Path) -> Endpoints | None:
    """What `up` wrote last, or None (never started there, or unreadable)."""
    raw = read_secret_file(directory / ENDPOINTS_FILE)
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        return Endpoints(str(record["mcp_base_url"]), str(record["admin_url"]))
    except (ValueError, KeyError, TypeError):
        return None


def api_url(flag: str | None, directory: Path) -> str:
    """The management API's base URL."""
    if flag:
        return flag
    if env := os.environ.get("GMCP_API_URL"):
        return env
    stored = read_endpoints(directory)
    return stored.admin_url if stored is not None else DEFAULT_API_URL


def api_token(directory: Path) -> str:
    """The management API token, or NoApiToken saying where it was looked for."""
    token = os.environ.get("GMCP_API_TOKEN", "").strip() or read_secret_file(directory / API_TOKEN_FILE)
    if not token:
        raise NoApiToken(
            f"no management API token: set GMCP_API_TOKEN, or run `gumloop-mcp up --data-dir {directory}` "
            f"once (it writes {directory / API_TOKEN_FILE}), or pass the --data-dir `up` used"
        )
    return token


def demo_server_token(directory: Path) -> str | None:
    """The URL token of the demo server `up` created in `directory` (None if there is none)."""
    raw = read_secret_file(directory / DEMO_SERVER_FILE)
    if raw is None:
        return None
    try:
        return str(json.loads(raw)["token"])
    except (ValueError, KeyError, TypeError):
        return None
