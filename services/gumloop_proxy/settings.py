"""Settings of the Gumloop proxy (environment prefix GMCP_PROXY_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from gumloop_mcp.runtime import GrpcServiceSettings


class ProxySettings(GrpcServiceSettings):
    """Configuration, loaded once in main() and passed down."""

    model_config = SettingsConfigDict(env_prefix="GMCP_PROXY_", frozen=True, extra="ignore")

    grpc_port: int = 50052
    # metrics_port and caller_tokens: GrpcServiceSettings.
    # Where integrated accounts (with encrypted credentials) live.
    store: Literal["sqlite", "redis"] = "sqlite"
    data_dir: Path = Path(".gumloop-mcp")
    sqlite_path: Path | None = None  # default: <data_dir>/proxy.sqlite3
    redis_url: SecretStr | None = None
    redis_key_prefix: str = "gmcp:proxy:"
    # Fernet key (urlsafe base64, 32 bytes) encrypting credentials at rest.
    # Unset: generated once into <data_dir>/proxy.key (0600). Every replica must share it.
    encryption_key: SecretStr | None = None
    # Egress (egress.py). Off: accounts may not name, and the upstream transport never connects to,
    # link-local addresses (169.254.0.0/16, fe80::/10) or cloud metadata services
    # (169.254.169.254, metadata.google.internal, fd00:ec2::254, 100.100.100.200).
    allow_link_local_upstream: bool = False
    # Hosts accounts' base URLs may name (exact, case-insensitive). Empty: any host.
    upstream_allowed_hosts: list[str] = []
    # Defaults for accounts created without explicit base URLs.
    default_api_base_url: str = "https://api.gumloop.com/api/v1"
    default_stream_base_url: str = "https://ws.gumloop.com/api/v1"
    # Upstream HTTP (Gumloop's SDK uses 90 s for REST and 3600 s for streams).
    connect_timeout_s: float = 10.0
    request_timeout_s: float = 90.0
    stream_timeout_s: float = 3600.0
    max_connections: int = 200
    # Ceiling of one upstream answer's body (as received, and once decoded); above it the call fails
    # with a clear error instead of filling memory. Below the 32 MiB gRPC message limit.
    max_response_bytes: int = 16 * 1024 * 1024
    default_account_concurrency: int = 8
    # Streams one account may hold open at once (each for up to stream_timeout_s, on a pooled
    # connection). A stream holds an account_concurrency slot only until its headers arrive, so
    # unary calls never queue behind open streams; this bounds the streams themselves, so one account
    # cannot take the whole pool (max_connections) for an hour. One more is refused at once with
    # RESOURCE_EXHAUSTED (not queued: an open stream may last an hour, longer than any deadline).
    max_open_streams_per_account: int = Field(default=8, ge=1)
    # A Gumloop 429 with neither Retry-After nor a rate-limit reset (Gumloop documents no such
    # headers; its limits are concurrent runs) is passed on with this retry-after, in seconds, marked
    # as the proxy's default (trailer `retry-after-source: default`); 0 passes it on with none.
    rate_limited_default_retry_after_s: int = Field(default=30, ge=0)
    # Artifact downloads from signed URLs.
    artifact_max_bytes: int = 25 * 1024 * 1024
    artifact_download_timeout_s: float = 30.0
    max_image_bytes: int = 4 * 1024 * 1024
    # Rendering artifacts and non-JSON answers as Markdown is CPU work (seconds for a 24 MB CSV):
    # it runs on this many worker threads, never on the event loop; more wait their turn.
    decode_workers: int = Field(default=2, ge=1)
    # Rendered Markdown of complete downloads, kept by SHA-256 so paging renders once: an LRU whose
    # texts hold at most this many bytes of memory in all (a str takes 1, 2 or 4 bytes a character
    # by its widest one; measured with sys.getsizeof), and 16 renderings; 0 turns it off.
    decode_cache_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    markdown_default_limit: int = 20_000
    markdown_max_limit: int = 100_000
    idempotency_ttl_s: float = 86_400.0
    # store=redis: how long a call holding an idempotency key may go silent before another replica
    # takes the key over (the holder renews it while it works). Unset: request_timeout_s + 30 s.
    idempotency_lease_s: float | None = None
    # store=redis: timeout of each Redis command (and connect) used for idempotency keys.
    idempotency_redis_timeout_s: float = 2.0
    # Accounts connected by OAuth (oauth_accounts.py). A client registered with Gumloop for the
    # management API's callback; unset: one is registered per flow through /oauth/register (RFC 7591).
    oauth_client_id: str = ""
    oauth_client_name: str = "gumloop-mcp"
    oauth_scopes: list[str] = ["gumloop", "userinfo"]
    # How long a started flow waits for its callback.
    oauth_flow_ttl_s: float = Field(default=600.0, gt=0)
    # Refresh an access token this long before it expires.
    oauth_refresh_margin_s: float = Field(default=60.0, ge=0)
    # How long one replica may hold an account's refresh before another takes over.
    oauth_refresh_lease_s: float = Field(default=30.0, gt=0)
    # Timeout of each call to Gumloop's OAuth endpoints.
    oauth_timeout_s: float = Field(default=15.0, gt=0)
    # Refreshed tokens that fail to store are written again this many times in all, pausing
    # oauth_store_backoff_s, then twice that, and so on: Gumloop may have rotated the refresh token, and
    # the only copy of the new one is in memory (lost, the account needs reconnection).
    oauth_store_attempts: int = Field(default=4, ge=1, le=10)
    oauth_store_backoff_s: float = Field(default=0.2, ge=0, le=5)
    # Download hosts that signed URLs may point at, besides the account's own hosts.
    # Empty: any https host, and http only on the account's own hosts.
    artifact_download_hosts: list[str] = []
