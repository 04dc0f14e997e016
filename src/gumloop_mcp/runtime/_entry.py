"""What `python -m services.<name>` does, in one place so the three entry points cannot drift apart."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol, TypeVar

from ._eventloop import announce_serving, run_service
from ._logging import configure
from ._settings import ServiceSettings
from ._tracing import configure_tracing, shutdown_tracing

__all__ = ["run_entry_point"]

S_contra = TypeVar("S_contra", bound=ServiceSettings, contravariant=True)


class Serve(Protocol[S_contra]):
    """A service's `serve(settings, on_ready=...)`: serves until SIGTERM/SIGINT."""

    def __call__(
        self, settings: S_contra, *, on_ready: Callable[[Mapping[str, int]], None] | None = ...
    ) -> Coroutine[Any, Any, None]: ...


def run_entry_point(
    service: str, settings: S_contra, serve: Serve[S_contra], *, release_heap: bool = True
) -> None:
    """Configure logging and (with OTEL_EXPORTER_OTLP_ENDPOINT set) tracing as "gumloop-mcp-<service>",
    serve on uvloop, announce the bound ports once serving (`announce_serving`: the startup heap frozen,
    its freed C heap given back unless `release_heap` is False, the JSON line `gumloop-mcp up` waits
    for), and flush the traces on the way out."""
    configure(settings.log_level, json_format=settings.log_json)
    configure_tracing(f"gumloop-mcp-{service}")
    ready = functools.partial(announce_serving, service, release_heap=release_heap)
    try:
        run_service(serve(settings, on_ready=ready))
    finally:
        shutdown_tracing()
