"""Settings shared by the services; each extends `ServiceSettings` (gRPC services `GrpcServiceSettings`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GrpcServiceSettings", "ServiceSettings"]


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set their own `env_prefix`."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    log_level: str = "INFO"
    log_json: bool = True
    # Kept shorter than the pod's terminationGracePeriodSeconds.
    shutdown_grace_s: float = 5.0


class GrpcServiceSettings(ServiceSettings):
    """Fields of a service with a gRPC API (the token service and the proxy)."""

    # Prometheus metrics (GET /metrics over HTTP) on `host`: 0 picks a free port (reported in the
    # `serving` line's ports as "metrics"), -1 turns the endpoint off.
    metrics_port: int = Field(default=0, ge=-1, le=65535)
    # Callers allowed to use the gRPC API (health and reflection stay open): "name=token" entries
    # separated by commas/whitespace, or a JSON list of "name=token" strings; a name may repeat while
    # its token is rotated; tokens are at least 16 characters. Empty: open to anyone who reaches the
    # port (a WARNING at start unless bound to loopback). The caller's name is logged, never the token.
    caller_tokens: SecretStr | None = None
