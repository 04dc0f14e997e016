"""Entry point: `python -m services.gumloop_proxy` serves the proxy until SIGTERM/SIGINT."""

from __future__ import annotations

from gumloop_mcp.runtime import import_as_deployed, run_entry_point


def main() -> None:
    """Load settings, configure logging and tracing, serve; announce the bound ports as one JSON line."""
    import_as_deployed()  # first: the service's own modules import as in the image
    from .server import serve
    from .settings import ProxySettings

    # release_heap=False: the proxy's start-up frees too little for malloc_trim to gain anything
    run_entry_point("proxy", ProxySettings(), serve, release_heap=False)


if __name__ == "__main__":
    main()
