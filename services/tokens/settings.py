"""Settings of the token service (environment prefix GMCP_TOKENS_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from gumloop_mcp.runtime import GrpcServiceSettings


class TokenSettings(GrpcServiceSettings):
    """Configuration, loaded once in main() and passed down."""

    model_config = SettingsConfigDict(env_prefix="GMCP_TOKENS_", frozen=True, extra="ignore")

    grpc_port: int = 50051
    # metrics_port and caller_tokens: GrpcServiceSettings.
    # "sqlite" is the embedded default; "redis" for several replicas.
    store: Literal["sqlite", "redis"] = "sqlite"
    data_dir: Path = Path(".gumloop-mcp")
    sqlite_path: Path | None = None  # default: <data_dir>/tokens.sqlite3
    redis_url: SecretStr | None = None
    redis_key_prefix: str = "gmcp:tokens:"
    # HMAC-SHA256 key for token hashes. Unset: generated once into <data_dir>/tokens.pepper (0600).
    # Every replica must share it.
    pepper: SecretStr | None = None
    # The proxy, asked to validate scopes (catalog) and account ids.
    proxy_target: str = "127.0.0.1:50052"
    # This service's token in the proxy's GMCP_PROXY_CALLER_TOKENS (sent as "authorization: Bearer").
    proxy_caller_token: SecretStr | None = None
    proxy_timeout_s: float = 5.0
    min_expiry_lead_s: float = 60.0
    last_used_resolution_s: float = 60.0
    max_rotation_grace_s: float = 86_400.0
    # How long the proxy's operation catalog is reused for scope validation.
    catalog_cache_s: float = 30.0
