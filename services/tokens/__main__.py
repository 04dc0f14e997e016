"""Entry point: `python -m services.tokens` serves the token service until SIGTERM/SIGINT."""

from __future__ import annotations

from gumloop_mcp.runtime import import_as_deployed, run_entry_point


def main() -> None:
    """Load settings, configure logging and tracing, serve; announce the bound ports as one JSON line."""
    import_as_deployed()  # first: the service's own modules import as in the image
    from .server import serve
    from .settings import TokenSettings

    run_entry_point("tokens", TokenSettings(), serve)


if __name__ == "__main__":
    main()
