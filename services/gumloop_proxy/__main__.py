"""Entry point: `python -m services.gumloop_proxy` serves the proxy until SIGTERM/SIGINT."""

from __future__ import annotations

import functools

from gumloop_mcp.runtime import (
    announce_serving,
    configure,
    configure_tracing,
    run_service,
    shutdown_tracing,
)

from .server import serve
from .settings import ProxySettings


def main() -> None:
    """Load settings, configure logging, serve; announce the bound port as one JSON line on stdout."""
    settings = ProxySettings()
    configure(settings.log_level, json_format=settings.log_json)
    configure_tracing("gumloop-mcp-proxy")  # only with OTEL_EXPORTER_OTLP_ENDPOINT set

    ready = functools.partial(announce_serving, "proxy", release_heap=False)
    try:
        run_service(serve(settings, on_ready=ready))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
