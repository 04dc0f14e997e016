"""`python -m services.mcp_facade`: run the MCP façade until SIGTERM/SIGINT."""

from __future__ import annotations

from gumloop_mcp.runtime import run_entry_point

from .server import serve
from .settings import FacadeSettings


def main() -> None:
    """Load settings, configure logging and tracing, serve; announce the bound ports as one JSON line."""
    run_entry_point("facade", FacadeSettings(), serve)


if __name__ == "__main__":
    main()
