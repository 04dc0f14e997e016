"""The authorization server's rules: clients, connect codes, codes, grants, tokens.

One grant = one person (the subject) connected one client to one MCP server. It is created when
an authorization code is redeemed and ends when revoked (management API, RFC 7009 revocation,
refresh-token or code reuse) or when its refresh lifetime passes without a refresh.

- Clients register through RFC 7591 (`register_client`), or use the https URL of their Client ID
  Metadata Document as client_id (cimd.py, public clients); their redirect URIs must be on the
  allow-list (`RedirectPolicy`). Public clients (`none`) and confidential ones
  (`client_secret_post`, `client_secret_basic`) are accepted; PKCE (S256) is required of all.
- Consent ends in a `Person` (subject and how they proved it) handed to `issue_code`. Without an
  identity provider it is proved with the one-time connect code an operator mints through the
  management API (`mint_connect_code` / `redeem_connect_code`, read from the consent form). With one
  (oidc.py), the consent page sends the person to the provider with the authorization request kept
  here (`hold_sign_in` / `take_sign_in`), and the callback checks the server's allowed emails,
  domains and groups before `issue_code`; the grant keeps the verified email and groups, which are
  checked against the server's config again on every request and on refresh (`refresh(allowed=)`).
- Codes live 60 s and are redeemed once; a second redemption revokes the grant the first made.
- Access tokens are opaque, short-lived and bound to the grant's server (RFC 8707 `resource`);
  refresh tokens rotate at each use, and a reused one revokes the whole grant.
- Every secret is stored as its SHA-256 digest (store.py); every check reads the store.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
    UnsupportedGrantTypeError,
)
from authlib.oauth2.rfc7636.challenge import (
    CODE_CHALLENGE_PATTERN,
    CODE_VERIFIER_PATTERN,
    compare_s256_code_challenge,
)

from ..contracts import ServerScope
from .cimd import ClientMetadataError, ClientMetadataFetcher
from .oidc import OidcProvider, consent_allows
from .redirects import RedirectPolicy
from .store import GrantStore

__all__ = [
    "SCOPE",
    "AuthorizationRequest",
    "Client",
    "Grant",
    "InvalidClientMetadataError",
    "InvalidTargetError",
    "OAuthService",
    "Person",
    "TokenSet",
]

logger = logging.getLogger(__name__)

# The one scope: use of the MCP server's tools (the server's own config decides which).
SCOPE: Final = "mcp"
_CODE_TTL_S: Final = 60.0
_CLIENT_TTL_S: Final = 180 * 86400.0
# A used code's marker outlives the code, so a late replay still revokes the grant.
_USED_CODE_TTL_S: Final = 600.0
# last_used_at is written at most this often per grant (a write on every request would be waste).
_TOUCH_EVERY_S: Final = 60.0
_MAX_REDIRECT_URIS: Final = 10
_MAX_NAME_CHARS: Final = 200
# An identity-provider sign-in must come back within this long.
_SIGN_IN_TTL_S: Final = 600.0
_AUTH_METHODS: Final = ("none", "client_secret_post", "client_secret_basic")

ACCESS_PREFIX: Final = "gmcpoa_"
REFRESH_PREFIX: Final = "gmcpor_"
CONNECT_PREFIX: Final = "gmcpcc_"
_CLIENT_PREFIX: Final = "gmcpoc_"
_SECRET_PREFIX: Final = "gmcpocs_"


class InvalidTargetError(OAuth2Error):
    """RFC 8707: the `resource` is not this server's, or differs from what was granted."""

    error = "invalid_target"


class InvalidClientMetadataError(OAuth2Error):
    """RFC 7591: the registration request's metadata is not acceptable."""

    error = "invalid_client_metadata"


class InvalidRedirectUriError(OAuth2Error):
    """RFC 7591: a redirect URI is not on the allow-list."""

    error = "invalid_redirect_uri"


def digest(secret: str) -> str:
    """The store key part of a secret (SHA-256 hex): secrets are never stored as given."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _secret(prefix: str) -> str:
    # 256 bits as hex: one word, which the log filter's pattern for these prefixes redacts whole.
    return prefix + secrets.token_hex(32)


@dataclass(frozen=True, slots=True)
class Person:
    """Who consented: a subject (an email or a name) and how they proved it ("connect_code",
    "oidc"); an identity provider also vouches for their verified email and groups."""

    subject: str
    method: str
    email: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Client:
    """A registered client."""

    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    auth_method: str
    secret_hash: str = ""


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked authorization request (RFC 6749 4.1.1 with PKCE and `resource`)."""

    client: Client
    redirect_uri: str
    state: str | None
    code_challenge: str
    resource: str
    server_id: str
    account_id: str


@dataclass(frozen=True, slots=True)
class Grant:
    """One person's connection of one client to one MCP server."""

    id: str
    server_id: str
    account_id: str
    subject: str
    client_id: str
    client_name: str
    # SHA-256 of the MCP server URL it was granted for (the URL carries the server's URL token).
    resource_hash: str
    created_at: float
    last_used_at: float
    expires_at: float
    # How the person proved who they are ("connect_code", "oidc"), and what an identity provider
    # vouched for: checked against the server's allowed set on every request (oidc grants only).
    method: str = "connect_code"
    email: str = ""
    groups: tuple[str, ...] = ()

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Grant:
        """A grant from its stored record (fields added later take their defaults)."""
        values = {name: record[name] for name in cls.__slots__ if name in record}
        if "groups" in values:
            values["groups"] = tuple(values["groups"])
        return cls(**values)

    def record(self) -> dict[str, Any]:
        """The stored record."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values["groups"] = list(self.groups)
        return values

    def allowed_on(self, scope: ServerScope) -> bool:
        """Whether its person is still in the server's allowed set (identity-provider grants; a
        connect code names a person an operator chose, to whom the set does not apply)."""
        return self.method != "oidc" or consent_allows(scope, self.email, self.groups)


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A token response (RFC 6749 5.1)."""

    access_token: str
    refresh_token: str
    expires_in: int

    def body(self) -> dict[str, Any]:
        """The JSON body of the token response."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": SCOPE,
        }


class OAuthService:
    """The authorization server's state transitions over a `GrantStore`."""

    def __init__(
        self,
        store: GrantStore,
        redirects: RedirectPolicy,
        *,
        access_ttl_s: float,
        refresh_ttl_s: float,
        oidc: OidcProvider | None = None,
        metadata_documents: ClientMetadataFetcher | None = None,
    ) -> None:
        self.store = store
        # Clients named by the URL of their metadata document (cimd.py); None: registered ones only.
        self.metadata_documents = metadata_documents
        # The identity provider people sign in with to consent; None: one-time connect codes.
        self.oidc = oidc
        self.redirects = redirects
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self._on_revoked: list[Callable[[str], Awaitable[None]]] = []

    def on_revoked(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """Call `listener(grant_id)` after each grant is revoked (the façade cuts its open work)."""
        self._on_revoked.append(listener)

    # -- clients (RFC 7591) ---------------------------------------------------------------------

    async def register_client(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """Register a client from its metadata; the RFC 7591 response body (with any secret)."""
        uris = metadata.get("redirect_uris")
        if not isinstance(uris, list) or not uris or len(uris) > _MAX_REDIRECT_URIS:
            raise InvalidClientMetadataError(
                description=f"redirect_uris must be a list of 1 to {_MAX_REDIRECT_URIS} URIs"
            )
        for uri in uris:
            if not isinstance(uri, str) or not self.redirects.allowed(uri):
                raise InvalidRedirectUriError(
                    description=f"redirect URI {str(uri)[:200]!r} is not allowed by this server "
                    "(allowed: the configured list, e.g. Claude's callbacks, and loopback http URIs)"
                )
        method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
        if method not in _AUTH_METHODS:
            raise InvalidClientMetadataError(
                description=f"token_endpoint_auth_method must be one of {', '.join(_AUTH_METHODS)}"
            )
        for field, allowed in (
            ("grant_types", {"authorization_code", "refresh_token"}),
            ("response_types", {"code"}),
        ):
            value = metadata.get(field)
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(v, str) and v in allowed for v in value)
            ):
                raise InvalidClientMetadataError(
                    description=f"{field} may only hold {', '.join(sorted(allowed))}"
                )
        name = metadata.get("client_name", "")
        if not isinstance(name, str) or len(name) > _MAX_NAME_CHARS:
            raise InvalidClientMetadataError(
                description=f"client_name must be at most {_MAX_NAME_CHARS} characters"
            )
        client_id = _secret(_CLIENT_PREFIX)[:40]
        secret = _secret(_SECRET_PREFIX) if method != "none" else ""
        client = Client(client_id, name.strip(), tuple(uris), method, digest(secret) if secret else "")
        now = time.time()
        await self.store.put(
            f"client:{client_id}",
            {
                "client_id": client.client_id,
                "client_name": client.client_name,
                "redirect_uris": list(client.redirect_uris),
                "auth_method": client.auth_method,
                "secret_hash": client.secret_hash,
            },
            _CLIENT_TTL_S,
        )
        body: dict[str, Any] = {
            "client_id": client_id,
            "client_id_issued_at": int(now),
            "client_name": client.client_name,
            "redirect_uris": list(client.redirect_uris),
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": method,
        }
        if secret:
            body["client_secret"] = secret
            body["client_secret_expires_at"] = 0
        return body

    async def client(self, client_id: str) -> Client | None:
        """A registered client or a metadata-document client (ClientMetadataError when its document
        is unusable), or None."""
        documents = self.metadata_documents
        if documents is not None and documents.is_metadata_url(client_id):
            document = await documents.document(client_id)
            return Client(document.client_id, document.client_name, document.redirect_uris, "none")
        if not client_id or len(client_id) > 64:
            return None
        record = await self.store.get(f"client:{client_id}")
        if record is None:
            return None
        return Client(
            record["client_id"],
            record["client_name"],
            tuple(record["redirect_uris"]),
            record["auth_method"],
            record["secret_hash"],
        )

    async def authenticate_client(self, client_id: str, client_secret: str | None) -> Client:
        """The client a token or revocation request comes from (RFC 6749 2.3), or invalid_client."""
        try:
            client = await self.client(client_id)
        except ClientMetadataError as error:
            raise InvalidClientError(description=str(error), status_code=401) from None
        if client is None:
            raise InvalidClientError(description="unknown client_id", status_code=401)
        if client.auth_method == "none":
            if client_secret:
                raise InvalidClientError(description="this client is public: send no secret", status_code=401)
            return client
        if not client_secret or not hmac.compare_digest(digest(client_secret), client.secret_hash):
            raise InvalidClientError(description="client authentication failed", status_code=401)
        return client

    # -- connect codes (the consent method without an identity provider) -----------------------

    async def mint_connect_code(self, server_id: str, account_id: str, subject: str, ttl_s: float) -> str:
        """A one-time code that lets `subject` consent for the server `server_id`."""
        code = _secret(CONNECT_PREFIX)
        record = {
            "server_id": server_id,
            "account_id": account_id,
            "subject": subject,
            "created_at": time.time(),
        }
        await self.store.put(f"connect:{digest(code)}", record, ttl_s)
        return code

    async def redeem_connect_code(self, code: str, server_id: str) -> Person:
        """The person a connect code was minted for; the code is spent. access_denied otherwise."""
        code = code.strip()
        if not code.startswith(CONNECT_PREFIX) or len(code) > 100:
            raise AccessDeniedError(description="this connect code is not valid")
        record = await self.store.take(f"connect:{digest(code)}")
        if record is None or record["server_id"] != server_id:
            raise AccessDeniedError(
                description="this connect code is not valid, used, expired, or for another server"
            )
        return Person(subject=record["subject"], method="connect_code")

    # -- identity-provider sign-ins (oidc.py) ----------------------------------------------------

    async def hold_sign_in(self, state: str, params: Mapping[str, str], nonce: str, verifier: str) -> None:
        """Keep an authorization request (its parameters) while the person signs in at the provider."""
        record = {"params": dict(params), "nonce": nonce, "code_verifier": verifier}
        await self.store.put(f"oidc:{digest(state)}", record, _SIGN_IN_TTL_S)

    async def take_sign_in(self, state: str) -> dict[str, Any] | None:
        """The held request of a sign-in's state, once (None: unknown, used or expired)."""
        if not state or len(state) > 200:
            return None
        return await self.store.take(f"oidc:{digest(state)}")

    # -- authorization ---------------------------------------------------------------------------

    async def issue_code(self, request: AuthorizationRequest, person: Person) -> str:
        """An authorization code for a consented request (redeemed once, within 60 s)."""
        code = secrets.token_urlsafe(32)
        record = {
            "client_id": request.client.client_id,
            "redirect_uri": request.redirect_uri,
            "code_challenge": request.code_challenge,
            "resource_hash": digest(request.resource),
            "server_id": request.server_id,
            "account_id": request.account_id,
            "subject": person.subject,
            "method": person.method,
            "email": person.email,
            "groups": list(person.groups),
            "grant_id": "grant_" + secrets.token_hex(12),
        }
        await self.store.put(f"code:{digest(code)}", record, _CODE_TTL_S)
        return code

    @staticmethod
    def check_challenge(challenge: str | None, method: str | None) -> str:
        """The PKCE code challenge of an authorization request (S256 only), or invalid_request."""
        if not challenge:
            raise InvalidRequestError(description="code_challenge is required (PKCE, S256)")
        if method != "S256":
            raise InvalidRequestError(description="code_challenge_method must be S256")
        if not CODE_CHALLENGE_PATTERN.match(challenge):
            raise InvalidRequestError(description="code_challenge is malformed")
        return challenge

    # -- tokens ----------------------------------------------------------------------------------

    async def exchange_code(
        self, client: Client, code: str, redirect_uri: str | None, verifier: str | None, resource: str | None
    ) -> TokenSet:
        """grant_type=authorization_code: a new grant and its first tokens."""
        key = digest(code or "")
        record = await self.store.get(f"code:{key}")
        # The first redemption claims the code; any other (even a concurrent one) is a reuse.
        if record is None or not await self.store.claim(
            f"code-used:{key}", {"grant_id": record["grant_id"]}, _USED_CODE_TTL_S
        ):
            used = await self.store.get(f"code-used:{key}")
            if used is not None:
                await self.revoke_grant(used["grant_id"])
                raise InvalidGrantError(description="authorization code already used; its grant is revoked")
            raise InvalidGrantError(description="authorization code unknown or expired")
        await self.store.delete(f"code:{key}")
        if record["client_id"] != client.client_id:
            raise InvalidGrantError(description="authorization code was issued to another client")
        if redirect_uri != record["redirect_uri"]:
            raise InvalidGrantError(description="redirect_uri differs from the authorization request's")
        if not verifier or not CODE_VERIFIER_PATTERN.match(verifier):
            raise InvalidGrantError(description="code_verifier is missing or malformed")
        if not compare_s256_code_challenge(verifier, record["code_challenge"]):
            raise InvalidGrantError(description="code_verifier does not match the code_challenge (PKCE)")
        if resource is not None and digest(resource) != record["resource_hash"]:
            raise InvalidTargetError(description="resource differs from the authorization request's")
        now = time.time()
        grant = Grant(
            id=record["grant_id"],
            server_id=record["server_id"],
            account_id=record["account_id"],
            subject=record["subject"],
            client_id=client.client_id,
            client_name=client.client_name,
            resource_hash=record["resource_hash"],
            created_at=now,
            last_used_at=now,
            expires_at=now + self.refresh_ttl_s,
            method=record.get("method", "connect_code"),
            email=record.get("email", ""),
            groups=tuple(record.get("groups", ())),
        )
        await self.store.put(f"grant:{grant.id}", grant.record(), self.refresh_ttl_s)
        await self.store.add_member(f"grants:{grant.server_id}", grant.id)
        return await self._tokens(grant)

    async def refresh(
        self,
        client: Client,
        refresh_token: str,
        resource: str | None,
        allowed: Callable[[Grant], bool] | None = None,
    ) -> TokenSet:
        """grant_type=refresh_token: rotate. A refresh token used twice revokes its whole grant; so
        does a person `allowed` (the server's current allowed set) no longer admits."""
        key = digest(refresh_token or "")
        record = await self.store.get(f"refresh:{key}")
        # The first use claims the token; any other (even a concurrent one) is a reuse.
        if record is None or not await self.store.claim(
            f"refresh-used:{key}", {"grant_id": record["grant_id"]}, self.refresh_ttl_s
        ):
            used = await self.store.get(f"refresh-used:{key}")
            if used is not None:
                await self.revoke_grant(used["grant_id"])
                raise InvalidGrantError(description="refresh token already used; the whole grant is revoked")
            raise InvalidGrantError(description="refresh token unknown, expired or revoked")
        await self.store.delete(f"refresh:{key}")
        grant = await self.grant(record["grant_id"])
        if grant is None:
            raise InvalidGrantError(description="the grant was revoked or has expired")
        if grant.client_id != client.client_id:
            raise InvalidGrantError(description="refresh token was issued to another client")
        if resource is not None and digest(resource) != grant.resource_hash:
            raise InvalidTargetError(description="resource differs from the grant's")
        if allowed is not None and not allowed(grant):
            await self.revoke_grant(grant.id)
            raise InvalidGrantError(
                description="this person is no longer allowed to use this server; the grant is revoked"
            )
        now = time.time()
        renewed = Grant(**{**grant.record(), "last_used_at": now, "expires_at": now + self.refresh_ttl_s})
        # Only over the live record: a concurrent reuse of this refresh token may have revoked it.
        if not await self.store.replace(f"grant:{grant.id}", renewed.record(), self.refresh_ttl_s):
            raise InvalidGrantError(description="the grant was revoked or has expired")
        tokens = await self._tokens(renewed)
        if await self.grant(grant.id) is None:
            # Revoked between the renewal and the new tokens: they must not outlive it.
            raise InvalidGrantError(description="the grant was revoked or has expired")
        return tokens

    async def _tokens(self, grant: Grant) -> TokenSet:
        access = _secret(ACCESS_PREFIX)
        refresh = _secret(REFRESH_PREFIX)
        expires_at = time.time() + self.access_ttl_s
        await self.store.put(
            f"access:{digest(access)}", {"grant_id": grant.id, "expires_at": expires_at}, self.access_ttl_s
        )
        await self.store.put(
            f"refresh:{digest(refresh)}",
            {"grant_id": grant.id, "client_id": grant.client_id},
            self.refresh_ttl_s,
        )
        return TokenSet(access, refresh, int(self.access_ttl_s))

    async def verify_access_token(self, token: str, server_id: str) -> Grant | None:
        """The live grant an access token belongs to when it is for `server_id`, else None."""
        if not token.startswith(ACCESS_PREFIX) or len(token) > 100:
            return None
        record = await self.store.get(f"access:{digest(token)}")
        if record is None or record["expires_at"] <= time.time():
            return None
        grant = await self.grant(record["grant_id"])
        if grant is None or grant.server_id != server_id:
            return None
        now = time.time()
        if now - grant.last_used_at >= _TOUCH_EVERY_S:
            touched = Grant(**{**grant.record(), "last_used_at": now})
            ttl_s = max(1.0, grant.expires_at - now)
            if not await self.store.replace(f"grant:{grant.id}", touched.record(), ttl_s):
                return None  # revoked since it was read
        return grant

    async def revoke_token(self, client: Client, token: str) -> None:
        """RFC 7009: revoke the grant of a refresh or access token of this client (unknown: no-op)."""
        key = digest(token or "")
        record = await self.store.get(f"refresh:{key}") or await self.store.get(f"access:{key}")
        if record is None:
            return
        grant = await self.grant(record["grant_id"])
        if grant is not None and grant.client_id == client.client_id:
            await self.revoke_grant(grant.id)

    # -- grants ----------------------------------------------------------------------------------

    async def grant(self, grant_id: str) -> Grant | None:
        """A live grant, or None."""
        record = await self.store.get(f"grant:{grant_id}")
        return None if record is None else Grant.from_record(record)

    async def grants(self, server_id: str) -> list[Grant]:
        """The live grants of a server, oldest first (index members of ended grants are pruned)."""
        out: list[Grant] = []
        for grant_id in await self.store.members(f"grants:{server_id}"):
            grant = await self.grant(grant_id)
            if grant is None:
                await self.store.remove_member(f"grants:{server_id}", grant_id)
            else:
                out.append(grant)
        return sorted(out, key=lambda g: (g.created_at, g.id))

    async def revoke_grant(self, grant_id: str) -> Grant | None:
        """End a grant: its access and refresh tokens stop working on every replica at once."""
        grant = await self.grant(grant_id)
        await self.store.delete(f"grant:{grant_id}")
        if grant is not None:
            await self.store.remove_member(f"grants:{grant.server_id}", grant_id)
        for listener in self._on_revoked:
            try:
                await listener(grant_id)
            except Exception:  # the grant is revoked all the same; requests are refused from now on
                logger.exception("oauth: a grant-revoked listener failed")
        return grant


def unsupported_grant_type(grant_type: str | None) -> OAuth2Error:
    """The error for a grant type this server does not do."""
    error = UnsupportedGrantTypeError(str(grant_type)[:50])
    error.description = "supported grant types: authorization_code, refresh_token"
    return error
