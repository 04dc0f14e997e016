"""Sign-in with OAuth for MCP servers that require it (`require_oauth`): the façade is both the
protected resource (RFC 9728) and its authorization server (RFC 8414, 7591, 7636, 8707, 7009).

Design (see service.py): grants, codes and tokens live on the façade's state backend (store.py:
memory for one process, Redis for several replicas), hashed, and are read on every check, so a
revocation holds on every replica at once. Who may consent: people an OpenID Connect identity
provider signs in (oidc.py) and the server's config allows, or, without a provider, whoever holds a
one-time connect code minted through the management API (management.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .cimd import ClientMetadataFetcher
from .http import OAuthEndpoints
from .oidc import OidcProvider
from .redirects import CLAUDE_CALLBACKS, RedirectPolicy
from .service import OAuthService
from .store import GrantStore, MemoryGrantStore

if TYPE_CHECKING:
    from ..settings import FacadeSettings

__all__ = [
    "CLAUDE_CALLBACKS",
    "OAUTH_REVOKED_MESSAGE",
    "OAuthEndpoints",
    "OAuthService",
    "is_oauth_factor",
    "oauth_factor_id",
    "open_oauth",
]

OAUTH_REVOKED_MESSAGE: Final = (
    "The sign-in (OAuth grant) this request was authorised with was revoked or has expired, so the "
    "request was cancelled; sign in again"
)
_FACTOR_PREFIX: Final = "oauth:"


def oauth_factor_id(grant_id: str) -> str:
    """The id work opened with a grant is held under (live.py's second factor ids)."""
    return _FACTOR_PREFIX + grant_id


def is_oauth_factor(factor_id: str) -> bool:
    """Whether a second factor id names a grant (not an API token)."""
    return factor_id.startswith(_FACTOR_PREFIX)


def open_oauth(settings: FacadeSettings) -> OAuthService:
    """The authorization server on the store settings.store names."""
    store: GrantStore
    if settings.store == "redis":
        if settings.redis_url is None:
            raise ValueError("GMCP_FACADE_REDIS_URL is required when GMCP_FACADE_STORE=redis")
        from .store_redis import RedisGrantStore  # redis-py only where Redis is used

        store = RedisGrantStore(settings.redis_url.get_secret_value(), settings.redis_key_prefix + "oauth:")
    else:
        store = MemoryGrantStore()
    redirects = RedirectPolicy(settings.oauth_redirect_uris)
    return OAuthService(
        store,
        redirects,
        access_ttl_s=settings.oauth_access_token_ttl_s,
        refresh_ttl_s=settings.oauth_refresh_token_ttl_s,
        oidc=open_oidc(settings),
        metadata_documents=ClientMetadataFetcher(
            redirects,
            allow_loopback_http=settings.oauth_cimd_allow_loopback_http,
            cache_ttl_s=settings.oauth_cimd_cache_ttl_s,
        ),
    )


def open_oidc(settings: FacadeSettings) -> OidcProvider | None:
    """The identity provider GMCP_FACADE_OIDC_* name, or None when no issuer is set."""
    if not settings.oidc_issuer:
        return None
    if not settings.oidc_client_id or settings.oidc_client_secret is None:
        raise ValueError(
            "GMCP_FACADE_OIDC_ISSUER needs GMCP_FACADE_OIDC_CLIENT_ID and GMCP_FACADE_OIDC_CLIENT_SECRET "
            "(the client registered at the identity provider)"
        )
    return OidcProvider(
        settings.oidc_issuer,
        settings.oidc_client_id,
        settings.oidc_client_secret.get_secret_value(),
        scopes=settings.oidc_scopes,
        groups_claim=settings.oidc_groups_claim,
    )
