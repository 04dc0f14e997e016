"""Gumloop's OAuth 2.0 server as the emulator keeps it: registered clients, authorization codes and grants.

What the official SDK's ``gumloop.oauth.OAuth`` drives (root host, not under ``/api/v1``): dynamic client
registration (RFC 7591, public clients), authorization code with PKCE (S256 only), refresh tokens that
rotate (the old one stops working once used; a reused one is refused with ``invalid_grant``), and
revocation (RFC 7009: revoking either token of a grant ends the whole grant). Access tokens live
``oauth_access_token_ttl_s`` on the emulator's clock, so tests expire them by advancing the clock.

Only digests of tokens and codes are kept. ``stats`` counts what tests assert on (refreshes, revocations).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge

__all__ = ["AuthorizationCode", "Grant", "OAuthClient", "OAuthError", "OAuthServer"]

CODE_TTL_S = 300.0
SCOPES = frozenset({"gumloop", "gumloop_api", "userinfo"})


class OAuthError(Exception):
    """An RFC 6749 error: ``error`` code, description and HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        """The RFC 6749 §5.2 error body."""
        return {"error": self.error, "error_description": self.description}


@dataclass
class OAuthClient:
    """A registered public client."""

    client_id: str
    client_name: str
    redirect_uris: list[str]
    scope: str
    issued_at: int


@dataclass
class AuthorizationCode:
    """A code waiting to be exchanged (once)."""

    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    expires_at: float


@dataclass
class Grant:
    """One authorization: its current access and refresh token digests, and whether it was revoked."""

    id: str
    client_id: str
    scope: str
    access_digest: str
    access_expires_at: float
    refresh_digest: str
    revoked: bool = False
    refreshes: int = 0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class OAuthServer:
    """The emulator's authorization server state (reset with the rest of the emulator)."""

    def __init__(self, access_token_ttl_s: float) -> None:
        self.access_token_ttl_s = access_token_ttl_s
        self.clients: dict[str, OAuthClient] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.grants: dict[str, Grant] = {}
        self._by_access: dict[str, str] = {}
        self._by_refresh: dict[str, str] = {}
        self.stats: dict[str, int] = {
            "registrations": 0,
            "authorizations": 0,
            "code_exchanges": 0,
            "refreshes": 0,
            "refused_refreshes": 0,
            "revocations": 0,
        }

    # -- registration and authorization -------------------------------------------------------

    def register(self, body: dict[str, Any], now: float) -> OAuthClient:
        """RFC 7591 registration of a public client (``token_endpoint_auth_method`` none)."""
        uris = body.get("redirect_uris")
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
            raise OAuthError("invalid_redirect_uri", "redirect_uris must be a non-empty list of URLs")
        if any(not u.startswith(("http://", "https://")) or "#" in u for u in uris):
            raise OAuthError(
                "invalid_redirect_uri", "each redirect URI must be an http(s) URL without fragment"
            )
        method = body.get("token_endpoint_auth_method", "none")
        if method != "none":
            raise OAuthError(
                "invalid_client_metadata", "only public clients (token_endpoint_auth_method none)"
            )
        scope = str(body.get("scope") or "gumloop userinfo")
        self._check_scope(scope, "invalid_client_metadata")
        client = OAuthClient(
            client_id="glc_" + generate_token(24),
            client_name=str(body.get("client_name") or "unnamed client"),
            redirect_uris=list(uris),
            scope=scope,
            issued_at=int(now),
        )
        self.clients[client.client_id] = client
        self.stats["registrations"] += 1
        return client

    @staticmethod
    def _check_scope(scope: str, error: str) -> None:
        unknown = set(scope.split()) - SCOPES
        if unknown:
            raise OAuthError(error, f"unknown scope(s): {', '.join(sorted(unknown))}")

    def client_for(self, client_id: str, redirect_uri: str) -> OAuthClient:
        """The client, when it registered `redirect_uri`; errors that must not redirect (RFC 6749 4.1.2.1)."""
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", "unknown client_id", 401)
        if redirect_uri not in client.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri is not registered for this client")
        return client

    def authorize(self, params: dict[str, str], now: float) -> str:
        """Check an authorization request (client and redirect already checked) and issue a code."""
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be code")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not challenge:
            raise OAuthError("invalid_request", "PKCE is required: code_challenge with method S256")
        scope = params.get("scope") or "gumloop userinfo"
        self._check_scope(scope, "invalid_scope")
        code: str = generate_token(32)
        self.codes[_digest(code)] = AuthorizationCode(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            scope=scope,
            code_challenge=challenge,
            expires_at=now + CODE_TTL_S,
        )
        self.stats["authorizations"] += 1
        return code

    # -- tokens ----------------------------------------------------------------------------------

    def token(self, form: dict[str, str], now: float) -> dict[str, Any]:
        """The token endpoint: authorization_code (with PKCE) or refresh_token."""
        grant_type = form.get("grant_type")
        client_id = form.get("client_id", "")
        if client_id not in self.clients:
            raise OAuthError("invalid_client", "unknown client_id", 401)
        if grant_type == "authorization_code":
            return self._exchange(form, client_id, now)
        if grant_type == "refresh_token":
            return self._refresh(form, client_id, now)
        raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")

    def _exchange(self, form: dict[str, str], client_id: str, now: float) -> dict[str, Any]:
        code = self.codes.pop(_digest(form.get("code", "")), None)  # single use, even when refused
        if code is None or code.expires_at <= now:
            raise OAuthError("invalid_grant", "the authorization code is invalid, used or expired")
        if code.client_id != client_id or code.redirect_uri != form.get("redirect_uri"):
            raise OAuthError("invalid_grant", "the code was issued to another client or redirect_uri")
        verifier = form.get("code_verifier", "")
        if not verifier or not compare_s256_code_challenge(verifier, code.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        self.stats["code_exchanges"] += 1
        grant = Grant(
            id="grant_" + generate_token(12),
            client_id=client_id,
            scope=code.scope,
            access_digest="",
            access_expires_at=0.0,
            refresh_digest="",
        )
        self.grants[grant.id] = grant
        return self._issue(grant, now)

    def _refresh(self, form: dict[str, str], client_id: str, now: float) -> dict[str, Any]:
        digest = _digest(form.get("refresh_token", ""))
        grant = self.grants.get(self._by_refresh.get(digest, ""))
        if grant is None or grant.revoked or grant.refresh_digest != digest or grant.client_id != client_id:
            self.stats["refused_refreshes"] += 1
            raise OAuthError("invalid_grant", "the refresh token is invalid, revoked or already used")
        grant.refreshes += 1
        self.stats["refreshes"] += 1
        return self._issue(grant, now)

    def _issue(self, grant: Grant, now: float) -> dict[str, Any]:
        access, refresh = "glat_" + str(generate_token(40)), "glrt_" + str(generate_token(40))
        self._by_access.pop(grant.access_digest, None)
        grant.access_digest = _digest(access)
        grant.access_expires_at = now + self.access_token_ttl_s
        grant.refresh_digest = _digest(refresh)
        self._by_access[grant.access_digest] = grant.id
        self._by_refresh[grant.refresh_digest] = grant.id
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.access_token_ttl_s),
            "refresh_token": refresh,
            "scope": grant.scope,
        }

    def revoke(self, form: dict[str, str]) -> None:
        """RFC 7009: revoking either token of a grant ends the grant; an unknown token is not an error."""
        if form.get("client_id", "") not in self.clients:
            raise OAuthError("invalid_client", "unknown client_id", 401)
        digest = _digest(form.get("token", ""))
        grant = self.grants.get(self._by_access.get(digest) or self._by_refresh.get(digest) or "")
        if grant is not None and grant.client_id == form["client_id"] and not grant.revoked:
            grant.revoked = True
            self.stats["revocations"] += 1

    def revoke_all(self) -> int:
        """Revoke every grant (as a user disconnecting the app in Gumloop would); how many were live."""
        live = [g for g in self.grants.values() if not g.revoked]
        for grant in live:
            grant.revoked = True
        return len(live)

    def access_problem(self, token: str, now: float) -> str | None:
        """None when `token` is a live access token; else why it is refused. Not ours: "unknown"."""
        grant = self.grants.get(self._by_access.get(_digest(token), ""))
        if grant is None:
            return "unknown"
        if grant.revoked:
            return "The access token was revoked"
        if grant.access_expires_at <= now:
            return "The access token has expired"
        return None

    def summary(self) -> dict[str, Any]:
        """What the control endpoint reports: counters and each grant's state (never a token)."""
        return {
            "stats": dict(self.stats),
            "clients": len(self.clients),
            "grants": [
                {
                    "id": g.id,
                    "client_id": g.client_id,
                    "scope": g.scope,
                    "revoked": g.revoked,
                    "refreshes": g.refreshes,
                    "access_expires_at": g.access_expires_at,
                }
                for g in self.grants.values()
            ],
        }
