"""Settings shared by every service; each service extends `ServiceSettings`."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings"]


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set their own `env_prefix`."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    log_level: str = "INFO"
    log_json: bool = True
    # Kept shorter than the pod's terminationGracePeriodSeconds.
    shutdown_grace_s: float = 5.0
