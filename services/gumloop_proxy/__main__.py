"""Entry point: `python -m services.gumloop_proxy` serves the proxy until SIGTERM/SIGINT."""

from __future__ import annotations

import json

from gumloop_mcp.runtime import (
    configure,
    configure_tracing,
    freeze_startup_heap,
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

    def ready(ports: dict[str, int]) -> None:
        freeze_startup_heap()  # before the line `gumloop-mcp up` waits for
        print(json.dumps({"event": "serving", "service": "proxy", "ports": ports}), flush=True)

    try:
        run_service(serve(settings, on_ready=ready))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
