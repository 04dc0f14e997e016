"""Entry point: `python -m services.tokens` serves the token service until SIGTERM/SIGINT."""

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
from .settings import TokenSettings


def main() -> None:
    """Load settings, configure logging, serve; announce the bound port as one JSON line on stdout."""
    settings = TokenSettings()
    configure(settings.log_level, json_format=settings.log_json)
    configure_tracing("gumloop-mcp-tokens")  # only with OTEL_EXPORTER_OTLP_ENDPOINT set

    try:
        run_service(serve(settings, on_ready=functools.partial(announce_serving, "tokens")))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
