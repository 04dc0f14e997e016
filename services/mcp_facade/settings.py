"""Settings of the MCP façade (environment prefix GMCP_FACADE_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from gumloop_mcp.runtime import ServiceSettings
from gumloop_mcp.scope import (
    DEFAULT_CONTEXT_BUDGET_TOKENS,
    MAX_CONTEXT_BUDGET_TOKENS,
    MIN_CONTEXT_BUDGET_TOKENS,
)


class FacadeSettings(ServiceSettings):
    """Configuration, loaded once in main() and passed down."""

    model_config = SettingsConfigDict(env_prefix="GMCP_FACADE_", frozen=True, extra="ignore")

    # Public MCP endpoint (/mcp/{token}) and the separate admin port (management REST, metrics).
    port: int = 8080
    admin_host: str = "127.0.0.1"
    admin_port: int = 8081
    # Prometheus GET /metrics on its own port on `admin_host` (what a scraper may reach without reaching
    # the management API): 0 picks a free port (reported as `metrics` in the serving line), -1 turns it
    # off. /metrics stays on the admin port too. Kubernetes: 9093.
    metrics_port: int = Field(default=0, ge=-1, le=65535)
    # Base of the URLs handed out when minting, e.g. "https://mcp.example.com".
    # Unset: http://<host>:<port>.
    public_base_url: str | None = None
    tokens_target: str = "127.0.0.1:50051"
    proxy_target: str = "127.0.0.1:50052"
    # The façade's tokens in GMCP_TOKENS_CALLER_TOKENS and GMCP_PROXY_CALLER_TOKENS (sent as
    # "authorization: Bearer <token>" on every call to that backend). Unset: no token is sent.
    tokens_caller_token: SecretStr | None = None
    proxy_caller_token: SecretStr | None = None
    # Origin allow-list (exact origins); a request without Origin is allowed.
    allowed_origins: list[str] = []
    # Host allow-list; empty allows any Host except when bound to loopback, where only loopback names pass.
    allowed_hosts: list[str] = []
    # The same two checks on the admin port (management API, /metrics, /openapi.json); same rules.
    # /healthz and /readyz answer any Host (kubelet probes use the pod IP).
    admin_allowed_origins: list[str] = []
    admin_allowed_hosts: list[str] = []
    token_cache_ttl_s: float = 30.0
    token_cache_size: int = 10_000
    # Per-server budget (one MCP server record, all its URLs and sessions) protecting the Gumloop quota
    # from a runaway model.
    calls_per_minute: int = 120
    max_body_bytes: int = 1024 * 1024
    # Deadline of one MCP request, waits included, propagated to every gRPC call it makes. Above
    # max_wait_seconds plus polling margin, well under Claude's 300 s tool timeout.
    request_deadline_s: float = 150.0
    # Upper bound of a tool's server-side wait (Claude times out at 300 s).
    max_wait_seconds: float = 120.0
    max_result_chars: int = 100_000
    # How often a subscribed resource (a session or automation run) is read to notice a change.
    resource_poll_interval_s: float = Field(default=5.0, ge=0.05, le=300.0)
    # The tool exposure of servers whose record sets none (config.tool_exposure ""): "full" (alias
    # "all"), "discovery" or "auto"; and the model-token budget "auto" uses when the record sets none.
    tool_exposure: Literal["all", "full", "discovery", "auto"] = "full"
    context_budget_tokens: int = Field(
        default=DEFAULT_CONTEXT_BUDGET_TOKENS, ge=MIN_CONTEXT_BUDGET_TOKENS, le=MAX_CONTEXT_BUDGET_TOKENS
    )
    # HMAC key signing self-contained session ids, so any replica can serve any session.
    # Unset: random per process (sessions then need a single replica). Every replica must share it.
    session_secret: SecretStr | None = None
    session_ttl_s: float = 24 * 3600.0
    # Where per-server budgets, session ends/levels, tasks and legacy SSE stream presence live.
    # "memory" (one process, the embedded default) or "redis" (several replicas; any serves any request).
    store: Literal["memory", "redis"] = "memory"
    redis_url: SecretStr | None = None
    redis_key_prefix: str = "gmcp:facade:"
    # Files the façade keeps (the SQLite audit trail). Unset: none (`gumloop-mcp up` sets one).
    data_dir: Path | None = None

    # -- the audit trail of tool calls (audit/; see SECURITY.md, "Audit trail") --
    # "auto": redis when store is redis, else sqlite when data_dir is set, else memory (lost on restart).
    audit_store: Literal["auto", "sqlite", "redis", "memory"] = "auto"
    audit_sqlite_path: Path | None = None  # default: <data_dir>/facade-audit.sqlite3
    # Records older than this are deleted (checked every audit_sweep_interval_s).
    audit_retention_days: float = Field(default=30.0, gt=0)
    audit_sweep_interval_s: float = Field(default=3600.0, gt=0)
    # Records waiting for the writer; a call never waits: past this, records are dropped and counted
    # (gmcp_facade_audit_dropped_total{reason="queue_full"}).
    audit_queue_size: int = Field(default=10_000, ge=1)

    # OAuth servers (require_oauth; services/mcp_facade/oauth): redirect URIs clients may register
    # besides loopback ones (default: Claude's two connector callbacks), and token lifetimes. Grants,
    # codes and tokens live in the same store as above (memory, or Redis under redis_key_prefix + "oauth:").
    oauth_redirect_uris: list[str] = [
        "https://claude.ai/api/mcp/auth_callback",
        "https://claude.com/api/mcp/auth_callback",
    ]
    oauth_access_token_ttl_s: float = Field(default=900.0, ge=10.0, le=86400.0)
    oauth_refresh_token_ttl_s: float = Field(default=30 * 86400.0, ge=60.0, le=365 * 86400.0)
    # Sign-in for consent through an OpenID Connect identity provider (oauth/oidc.py): with an issuer
    # set, the consent page sends the person to it (authorization code + PKCE) and each server's
    # config.oauth_allowed_* decides who may consent; unset, operators mint one-time connect codes.
    # The façade's callback is <public base URL>/oauth/oidc/callback (register it at the provider).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid email profile"
    # The ID-token claim that lists the person's groups (Okta: "groups"; Entra: "groups", ids).
    oidc_groups_claim: str = "groups"
    # Who may sign in to the admin console through that identity provider (console/idp.py): verified
    # emails, email domains, groups (JSON lists). All empty (the default): nobody; API tokens still work.
    # The console's callback is <admin base URL>/console/oidc/callback (register it at the provider too).
    console_allowed_emails: list[str] = []
    console_allowed_domains: list[str] = []
    console_allowed_groups: list[str] = []
    # Client ID Metadata Documents (oauth/cimd.py): a client_id that is an https URL is fetched and
    # cached. Only for tests and local development: also accept http://127.0.0.1 / localhost URLs.
    oauth_cimd_allow_loopback_http: bool = False
    oauth_cimd_cache_ttl_s: float = Field(default=300.0, ge=0.0, le=86400.0)

    # -- bounds on what one client can hold (see SECURITY.md, "Resource limits"); 0 disables a count --
    # Messages in one JSON-RPC batch (2025-03-26 sessions); each request in it also takes from the budget.
    max_batch_items: int = Field(default=20, ge=1)
    # Open SSE streams (HTTP+SSE sessions and GET streams) per MCP server, and per client address
    # (the peer address: behind a reverse proxy every client shares the proxy's, so raise or disable it).
    max_streams_per_server: int = Field(default=16, ge=0)
    max_streams_per_client: int = Field(default=32, ge=0)
    # HTTP+SSE: requests of one stream being processed at once (more: 429), and bytes of replies waiting
    # for a client that does not read its stream (more: the stream is cut). One reply always fits.
    sse_max_inflight: int = Field(default=16, ge=1)
    sse_buffer_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Connections open at once on the public and on the admin port; above, a new connection gets 503
    # and is closed. Each is also kept below the process's file-descriptor limit (minus a reserve).
    max_connections: int = Field(default=2000, ge=1)
    admin_max_connections: int = Field(default=100, ge=1)
    # Both ports: a new connection must send its request headers within header_timeout_s, a request
    # body must arrive within body_timeout_s, and an idle keep-alive connection is closed after
    # keepalive_timeout_s (which also bounds the headers of every later request on it).
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    keepalive_timeout_s: float = Field(default=30.0, gt=0)
