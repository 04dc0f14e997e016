"""`python -m services.mcp_facade`: run the MCP façade until SIGTERM/SIGINT."""

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
from .settings import FacadeSettings


def main() -> None:
    """Load settings, configure logging, serve."""
    settings = FacadeSettings()
    configure(settings.log_level, json_format=settings.log_json)
    configure_tracing("gumloop-mcp-facade")  # only with OTEL_EXPORTER_OTLP_ENDPOINT set
    try:
        run_service(serve(settings, on_ready=functools.partial(announce_serving, "facade")))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
