"""Sign-in for consent through an OpenID Connect identity provider, and who may consent.

With GMCP_FACADE_OIDC_ISSUER (and a client id and secret registered at the provider) set, the
consent page sends the person to the provider: authorization code flow with PKCE (S256), a `state`
that names the authorization request kept server-side (store key `oidc:<digest>`, 10 minutes), and
a `nonce`. The callback exchanges the code (Authlib's OAuth 2 client), validates the ID token
(joserfc: signature against the provider's JWKS, `iss`, `aud`, `exp`, `iat`, `nonce`) and yields
an `Identity`. Whether that identity may consent to a server is `consent_allows`, read from the
server's config (`oauth_allowed_emails`, `_domains`, `_groups`) on every check, so removing a
person there ends their grants at their next request or refresh (oauth/http.py, `Grant.allowed_on`),
and what they hold open at the config change itself (transport/revocations.py). The console's
sign-in (console/idp.py) uses the same provider and the same rule (`AllowedSet`) with its own set.

Emails count only when the provider does not say they are unverified (`email_verified: false`);
emails and domains are compared lowercased.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token

from ..contracts import ServerScope

if TYPE_CHECKING:
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from joserfc.jwk import KeySet

# Authlib's OAuth 2 client and joserfc (with the cryptography they pull in, ~10 MiB resident) are
# imported on the first sign-in, in the methods below: a façade without an identity provider, or
# whose provider nobody signs in at, does not hold them (tests/unit/test_lazy_imports.py).

__all__ = ["AllowedSet", "Identity", "OidcError", "OidcProvider", "PendingSignIn", "consent_allows"]

logger = logging.getLogger(__name__)

# Discovery and keys are read again after this long (a key rotation is also caught by an unknown kid).
_METADATA_TTL_S: Final = 3600.0
_HTTP_TIMEOUT_S: Final = 10.0
_MAX_GROUPS: Final = 500
_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
# Clock difference tolerated between the provider and the façade when checking exp/iat.
_LEEWAY_S: Final = 60


class OidcError(Exception):
    """The provider could not be reached, or its answer (tokens, ID token) is not acceptable."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider says signed in."""

    subject: str  # the ID token's `sub`
    email: str  # lowercased; "" when absent or unverified
    groups: tuple[str, ...]

    @property
    def label(self) -> str:
        """How the person is named in grants: their email, else the provider's subject."""
        return self.email or self.subject


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """What the callback needs of the sign-in it completes (kept server-side under its state)."""

    state: str
    nonce: str
    code_verifier: str
    url: str  # where to send the person


@dataclass(frozen=True, slots=True)
class AllowedSet:
    """Who may pass: verified emails, email domains and groups (all empty: nobody).

    Emails and domains are expected lowercased (the management API and settings store them so)."""

    emails: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @classmethod
    def of(cls, emails: Sequence[str], domains: Sequence[str], groups: Sequence[str]) -> AllowedSet:
        return cls(frozenset(emails), frozenset(domains), frozenset(groups))

    @property
    def empty(self) -> bool:
        return not (self.emails or self.domains or self.groups)

    def allows(self, email: str, groups: Sequence[str]) -> bool:
        """Whether a person (verified email, groups) is in this set."""
        email = email.lower()
        if email and email in self.emails:
            return True
        domain = email.rpartition("@")[2] if "@" in email else ""
        if domain and domain in self.domains:
            return True
        return not self.groups.isdisjoint(groups)


def consent_allows(scope: ServerScope, email: str, groups: Sequence[str]) -> bool:
    """Whether a person (verified email, groups) is in the server's allowed set (empty: nobody)."""
    allowed = AllowedSet.of(
        scope.oauth_allowed_emails, scope.oauth_allowed_domains, scope.oauth_allowed_groups
    )
    return allowed.allows(email, groups)


class OidcProvider:
    """The identity provider: discovery, the authorization URL, and the code's ID token."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        scopes: str = "openid email profile",
        groups_claim: str = "groups",
    ) -> None:
        if not issuer.startswith(("https://", "http://")):
            raise ValueError("GMCP_FACADE_OIDC_ISSUER must be an http(s) URL")
        if "openid" not in scopes.split():
            raise ValueError("GMCP_FACADE_OIDC_SCOPES must include openid")
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.scopes = scopes
        self.groups_claim = groups_claim
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            scope=self.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
            timeout=_HTTP_TIMEOUT_S,
        )

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT_S) as http:
                response = await http.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"the identity provider did not answer {url}: {type(exc).__name__}") from None
        if not isinstance(body, dict):
            raise OidcError(f"the identity provider's {url} is not a JSON object")
        return body

    async def metadata(self, *, refresh: bool = False) -> dict[str, Any]:
        """The provider's discovery document (its `issuer` must be the configured one)."""
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        async with self._lock:
            fresh = time.monotonic() - self._fetched_at < _METADATA_TTL_S
            if self._metadata is not None and fresh and not refresh:
                return self._metadata
            metadata = await self._get_json(self.issuer + "/.well-known/openid-configuration")
            if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
                raise OidcError("the identity provider's discovery document names another issuer")
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(metadata.get(field), str):
                    raise OidcError(f"the identity provider's discovery document has no {field}")
            try:
                keys = KeySet.import_key_set(await self._get_json(metadata["jwks_uri"]))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError):
                raise OidcError("the identity provider's JWKS is not a valid key set") from None
            self._metadata, self._keys, self._fetched_at = metadata, keys, time.monotonic()
            return metadata

    async def start(self, redirect_uri: str) -> PendingSignIn:
        """A new sign-in: state, nonce, PKCE verifier and the provider's authorization URL."""
        metadata = await self.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
            )
        return PendingSignIn(state=state, nonce=nonce, code_verifier=verifier, url=str(url))

    async def finish(self, code: str, redirect_uri: str, pending: PendingSignIn) -> Identity:
        """Exchange the code and validate its ID token; the person it names."""
        from authlib.integrations.httpx_client import OAuthError

        metadata = await self.metadata()
        try:
            async with self._client(redirect_uri) as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"], code=code, code_verifier=pending.code_verifier
                )
        except (OAuthError, AuthlibBaseError, httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"the identity provider refused the code: {_describe(exc)}") from None
        id_token = token.get("id_token") if isinstance(token, dict) else None
        if not isinstance(id_token, str):
            raise OidcError("the identity provider returned no ID token (is the openid scope allowed?)")
        claims = await self._validated_claims(id_token, pending.nonce)
        email = claims.get("email")
        verified = claims.get("email_verified", True) not in (False, "false")
        groups = claims.get(self.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list):
            groups = []
        return Identity(
            subject=str(claims["sub"]),
            email=email.strip().lower() if isinstance(email, str) and verified else "",
            groups=tuple(str(g) for g in groups[:_MAX_GROUPS]),
        )

    async def _validated_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError

        registry = jwt.JWTClaimsRegistry(
            leeway=_LEEWAY_S,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        for attempt in range(2):
            keys = self._keys
            if keys is None or attempt:
                await self.metadata(refresh=True)  # a rotated key: read the JWKS once more
                keys = self._keys
            try:
                decoded = jwt.decode(id_token, keys, algorithms=list(_ALGORITHMS))  # type: ignore[arg-type]
            except (JoseError, ValueError) as exc:
                if attempt:
                    raise OidcError(f"the ID token's signature does not verify: {_describe(exc)}") from None
                continue
            try:
                registry.validate(decoded.claims)
            except JoseError as exc:
                raise OidcError(f"the ID token is not acceptable: {_describe(exc)}") from None
            claims: dict[str, Any] = dict(decoded.claims)
            azp = claims.get("azp")
            if isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1 and azp != self.client_id:
                raise OidcError("the ID token names several audiences and another authorized party")
            return claims
        raise OidcError("the ID token could not be verified")  # pragma: no cover - the loop returns or raises


def _describe(exc: Exception) -> str:
    """An exception's kind and message, for errors shown to the person (no token material)."""
    text = getattr(exc, "description", None) or getattr(exc, "error", None) or str(exc)
    return f"{type(exc).__name__}: {str(text)[:200]}"
