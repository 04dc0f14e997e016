"""Entry point: `python -m services.tokens` serves the token service until SIGTERM/SIGINT."""

from __future__ import annotations

from gumloop_mcp.runtime import run_entry_point

from .server import serve
from .settings import TokenSettings


def main() -> None:
    """Load settings, configure logging and tracing, serve; announce the bound ports as one JSON line."""
    run_entry_point("tokens", TokenSettings(), serve)


if __name__ == "__main__":
    main()
