"""Entry point: `python -m services.tokens` serves the token service until SIGTERM/SIGINT."""

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
from .settings import TokenSettings


def main() -> None:
    """Load settings, configure logging, serve; announce the bound port as one JSON line on stdout."""
    settings = TokenSettings()
    configure(settings.log_level, json_format=settings.log_json)
    configure_tracing("gumloop-mcp-tokens")  # only with OTEL_EXPORTER_OTLP_ENDPOINT set

    def ready(ports: dict[str, int]) -> None:
        freeze_startup_heap()  # before the line `gumloop-mcp up` waits for
        release_free_memory()  # then hand start-up's freed heap back
        print(json.dumps({"event": "serving", "service": "tokens", "ports": ports}), flush=True)

    try:
        run_service(serve(settings, on_ready=ready))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
