"""`python -m services.mcp_facade`: run the MCP façade until SIGTERM/SIGINT."""

from __future__ import annotations

from gumloop_mcp.runtime import import_as_deployed, run_entry_point


def main() -> None:
    """Load settings, configure logging and tracing, serve; announce the bound ports as one JSON line."""
    import_as_deployed()  # first: the service's own modules import as in the image
    from .server import serve
    from .settings import FacadeSettings

    run_entry_point("facade", FacadeSettings(), serve)


if __name__ == "__main__":
    main()
