"""`python -m services.mcp_facade`: run the MCP façade until SIGTERM/SIGINT."""

from __future__ import annotations

import json

from gumloop_mcp.runtime import (
    configure,
    configure_tracing,
    freeze_startup_heap,
    release_free_memory,
    run_service,
    shutdown_tracing,
)

from .server import serve
from .settings import FacadeSettings


def _ready(ports: dict[str, int]) -> None:
    freeze_startup_heap()  # before the line `gumloop-mcp up` waits for
    release_free_memory()  # then hand start-up's freed heap back
    print(json.dumps({"event": "serving", "service": "facade", "ports": ports}), flush=True)


def main() -> None:
    """Load settings, configure logging, serve."""
    settings = FacadeSettings()
    configure(settings.log_level, json_format=settings.log_json)
    configure_tracing("gumloop-mcp-facade")  # only with OTEL_EXPORTER_OTLP_ENDPOINT set
    try:
        run_service(serve(settings, on_ready=_ready))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
