"""Gumloop accounts connected by OAuth, and keeping their access tokens fresh.

Gumloop's OAuth server sits on the account's root host (`api_base_url` without `/api/v1`, as the
official SDK's `gumloop.oauth` derives it): `/oauth/register` (RFC 7591, public clients),
`/oauth/authorize`, `/oauth/token` (form bodies) and `/oauth/revoke` (RFC 7009).

- `start()`: registers a public client for the redirect URI (or uses `oauth_client_id`), creates the
  account `pending_authorization` (or picks the OAuth account to reconnect), keeps the flow (account
  and its incarnation, client id, redirect URI, PKCE verifier) encrypted in the account store under
  SHA-256(state) for `oauth_flow_ttl_s`, and returns the authorization URL (authlib builds it and the
  S256 challenge).
- `complete()`: takes the flow once, exchanges the code and writes both tokens (encrypted, like API
  keys) over the account, which turns `active`.
- `usable()`: an account whose access token is valid for at least `oauth_refresh_margin_s` more; else
  it is refreshed first. One refresh at a time per account: an asyncio lock in this process and a claim
  in the store across replicas (`oauth-refresh:<id>`, lease `oauth_refresh_lease_s`). The holder re-reads
  the account before refreshing (another replica may have done it); the others re-read it until its
  token changed or the claim is free. A refusal (400/401 from the token endpoint: revoked or expired
  grant) marks the account `needs_reconnection`; calls then fail with FAILED_PRECONDITION saying so. A
  transient failure keeps the current token while it has not expired. Refreshed tokens are stored with
  `oauth_store_attempts` tries and doubling pauses from `oauth_store_backoff_s` (the new refresh token
  exists only in memory until then).
- `after_unauthorized()`: Gumloop answered 401 to a call (token revoked early, clocks apart): one forced
  refresh unless the token changed meanwhile; the servicer sends the call once more (a stream that got
  401 at open is opened once more: nothing had been relayed).
- `revoke()`: on deletion, both tokens are revoked at Gumloop (best effort: a failure is logged).

Tokens are never logged; errors quote only Gumloop's OAuth error code and description.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636.challenge import create_s256_code_challenge
from pydantic import BaseModel, Field, SecretStr, ValidationError

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

from . import errors
from .accounts import AccountStore, OAuthGrant, StoredAccount, new_oauth_account_from_proto, sort_key
from .settings import ProxySettings

__all__ = ["OAuthConnections", "oauth_root"]

logger = logging.getLogger(__name__)

_MAX_DESCRIPTION = 300


def oauth_root(api_base_url: str) -> str:
    """The host Gumloop's OAuth endpoints live on: the API base without `/api/v1` (as the SDK does)."""
    return api_base_url.rstrip("/").removesuffix("/api/v1")


class _TokenAnswer(BaseModel):
    access_token: str = Field(min_length=1, max_length=4096)
    token_type: str = "Bearer"
    expires_in: int | None = Field(default=None, ge=0)
    refresh_token: str | None = Field(default=None, max_length=4096)
    scope: str = ""


class _Refused(Exception):
    """The OAuth server refused (4xx other than 429): `error` code and description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.status, self.error, self.description = status, error, description


def _clean(text: Any, limit: int = _MAX_DESCRIPTION) -> str:
    """Printable, one line, bounded: what of Gumloop's words goes into our messages."""
    value = "".join(c for c in str(text or "") if c.isprintable())
    return value[:limit]


class OAuthConnections:
    """Starts and completes OAuth connections and keeps their tokens fresh (see the module docstring)."""

    def __init__(
        self,
        settings: ProxySettings,
        store: AccountStore,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._store = store
        self._client = client
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    # -- connecting -----------------------------------------------------------------------------

    async def start(self, request: pb.StartAccountOAuthRequest) -> pb.StartAccountOAuthResponse:
        """Begin a flow: the authorization URL (state + PKCE) for a new or reconnected account."""
        violations: list[tuple[str, str]] = []
        redirect_uri = request.redirect_uri
        parts = urlsplit(redirect_uri) if len(redirect_uri) <= 2048 else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            violations.append(("redirect_uri", "must be an http(s) URL without fragment (the callback)"))
        scopes = list(request.scopes) or list(self._settings.oauth_scopes)
        if any(not s or not s.isprintable() or " " in s or len(s) > 100 for s in scopes):
            violations.append(("scopes", "each scope must be a single printable word"))
        if request.account_id and request.HasField("account"):
            violations.append(("account", "leave unset when reconnecting an existing account (account_id)"))
        if violations:
            raise errors.InvalidArguments(violations, "invalid OAuth start")
        existing: StoredAccount | None = None
        if request.account_id:
            existing = await self._store.get(request.account_id)
            if existing.credential_kind != "oauth_connection":
                raise errors.InvalidArguments(
                    [
                        (
                            "account_id",
                            "is not an OAuth connection; delete it and connect a new account by OAuth",
                        )
                    ]
                )
            api_base = existing.api_base_url
        else:
            spec = new_oauth_account_from_proto(request.account, self._settings)
            api_base = spec.api_base_url
        root = oauth_root(api_base)
        client_id = self._settings.oauth_client_id or await self._register(root, redirect_uri, scopes)
        account = existing or await self._store.create(spec)
        verifier, state = generate_token(64), generate_token(32)
        url = prepare_grant_uri(
            root + "/oauth/authorize",
            client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=" ".join(scopes),
            state=state,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        flow = {
            "account_id": account.id,
            "incarnation": sort_key(account),
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        ttl_s = self._settings.oauth_flow_ttl_s
        await self._store.put_flow(_flow_key(state), SecretStr(json.dumps(flow)), ttl_s)
        logger.info("account %s: OAuth flow started", account.id)
        answer = pb.StartAccountOAuthResponse(account=account.to_proto(), authorization_url=url, state=state)
        answer.expire_time.FromDatetime(datetime.fromtimestamp(time.time() + ttl_s, UTC))
        return answer

    async def complete(self, request: pb.CompleteAccountOAuthRequest) -> pb.CompleteAccountOAuthResponse:
        """Finish a flow: exchange the code, store the tokens, the account turns active."""
        if not request.state:
            raise errors.InvalidArguments([("state", "is required")])
        if not request.code and not request.error:
            raise errors.InvalidArguments([("code", "is required (or the error the callback received)")])
        sealed = await self._store.take_flow(_flow_key(request.state))
        if sealed is None:
            raise errors.InvalidArguments(
                [("state", "does not name a pending authorization (unknown, used or expired); start again")]
            )
        flow = json.loads(sealed.get_secret_value())
        account_id = str(flow["account_id"])
        if request.error:
            why = _clean(request.error, 100)
            description = _clean(request.error_description)
            raise errors.OAuthRefused(
                f"Gumloop did not authorize account {account_id}: {why}"
                + (f" ({description})" if description else "")
                + "; start the connection again"
            )
        account = await self._store.get(account_id)
        if sort_key(account) != flow["incarnation"]:
            raise errors.NotFound(f"account {account_id} was deleted while it was being connected")
        form = {
            "grant_type": "authorization_code",
            "client_id": str(flow["client_id"]),
            "code": request.code,
            "redirect_uri": str(flow["redirect_uri"]),
            "code_verifier": str(flow["code_verifier"]),
        }
        try:
            answer = await self._token(oauth_root(account.api_base_url), form, "the code exchange")
        except _Refused as exc:
            raise errors.OAuthRefused(
                f"Gumloop refused the authorization code for account {account_id} ({exc}); start again"
            ) from None
        connected = self._with_tokens(account, answer, str(flow["client_id"]), keep_refresh="")
        await self._store.replace(connected)
        logger.info("account %s: connected by OAuth", account_id)
        return pb.CompleteAccountOAuthResponse(account=connected.to_proto())

    async def _register(self, root: str, redirect_uri: str, scopes: list[str]) -> str:
        body = {
            "client_name": self._settings.oauth_client_name,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": " ".join(scopes),
        }
        response = await self._post(root + "/oauth/register", json=body, what="the client registration")
        if response.status_code >= 400:
            exc = _refusal(response)
            raise errors.OAuthRefused(
                f"Gumloop refused to register the OAuth client ({exc}); set GMCP_PROXY_OAUTH_CLIENT_ID "
                "to a client registered for this redirect URI"
            )
        try:
            client_id = response.json()["client_id"]
        except (ValueError, KeyError, TypeError):
            client_id = None
        if not isinstance(client_id, str) or not client_id:
            raise errors.UpstreamMalformed(
                "Gumloop's client registration answered without a client_id", operation="oauth_register"
            )
        return client_id

    # -- refreshing -----------------------------------------------------------------------------

    async def usable(self, account: StoredAccount) -> StoredAccount:
        """The account ready for a call: refreshed first when its token is about to expire."""
        if account.credential_kind != "oauth_connection":
            return account
        _check_state(account)
        if self._fresh(account):
            return account
        return await self._refresh(account, forced=False)

    async def after_unauthorized(self, account: StoredAccount) -> StoredAccount:
        """After Gumloop answered 401 with `account`'s token: the account with a newer token."""
        return await self._refresh(account, forced=True)

    def _fresh(self, account: StoredAccount) -> bool:
        expires = account.oauth.expires_at if account.oauth else None
        if expires is None:
            return True
        return expires.timestamp() - self._clock() > self._settings.oauth_refresh_margin_s

    def _settled(self, seen: StoredAccount, current: StoredAccount, forced: bool) -> bool:
        """True when `current` needs no refresh by us: someone refreshed it, or it is fresh."""
        _check_state(current)
        if current.secret.get_secret_value() != seen.secret.get_secret_value():
            return True
        return not forced and self._fresh(current)

    async def _refresh(self, seen: StoredAccount, *, forced: bool) -> StoredAccount:
        lock = self._locks.setdefault(seen.id, asyncio.Lock())
        async with lock:
            current = await self._store.get(seen.id)
            if self._settled(seen, current, forced):
                return current
            name, claim_id = f"oauth-refresh:{seen.id}", generate_token(16)
            lease_s = self._settings.oauth_refresh_lease_s
            give_up = time.monotonic() + lease_s + self._settings.oauth_timeout_s
            pause = 0.02
            while not await self._store.claim(name, claim_id, lease_s):
                if time.monotonic() > give_up:
                    raise errors.UpstreamUnavailable(
                        f"the OAuth token refresh of account {seen.id} on another replica did not finish",
                        operation="oauth_refresh",
                    )
                await asyncio.sleep(pause)
                pause = min(0.5, pause * 2)
                current = await self._store.get(seen.id)
                if self._settled(seen, current, forced):
                    return current
            try:
                current = await self._store.get(seen.id)
                if self._settled(seen, current, forced):
                    return current
                return await self._refresh_now(current)
            finally:
                try:
                    await self._store.release(name, claim_id)
                except errors.StoreUnavailable:
                    logger.warning(
                        "account %s: could not release the refresh claim (its lease ends it)", seen.id
                    )

    async def _refresh_now(self, account: StoredAccount) -> StoredAccount:
        grant = account.oauth
        assert grant is not None
        form = {
            "grant_type": "refresh_token",
            "client_id": grant.client_id,
            "refresh_token": grant.refresh_token.get_secret_value(),
        }
        try:
            if not form["refresh_token"]:
                raise _Refused(400, "invalid_grant", "Gumloop issued no refresh token")
            answer = await self._token(oauth_root(account.api_base_url), form, "the token refresh")
        except _Refused as exc:
            await self._store.replace(replace(account, state="needs_reconnection"))
            logger.warning(
                "account %s: Gumloop refused the token refresh (%s); it needs reconnection",
                account.id,
                exc.error,
            )
            raise errors.AccountNotReady(_needs_reconnection(account.id, str(exc))) from None
        except errors.UpstreamError:
            expires = grant.expires_at
            if expires is not None and expires.timestamp() > self._clock():
                logger.warning(
                    "account %s: token refresh failed; the current token is still valid", account.id
                )
                return account
            raise
        refreshed = self._with_tokens(account, answer, grant.client_id, keep_refresh=grant.refresh_token)
        await self._keep(refreshed)
        logger.info("account %s: OAuth access token refreshed", account.id)
        return refreshed

    async def _keep(self, refreshed: StoredAccount) -> None:
        """Store refreshed tokens, trying again with backoff while the store is unavailable.

        Gumloop may have rotated the refresh token: this is the only copy of the new one, and once it
        is lost the next refresh is refused and the account needs reconnection.
        """
        attempts, pause = self._settings.oauth_store_attempts, self._settings.oauth_store_backoff_s
        for attempt in range(1, attempts + 1):
            try:
                await self._store.replace(refreshed)
                return
            except errors.StoreUnavailable as exc:
                if attempt == attempts:
                    logger.error(
                        "account %s: refreshed OAuth tokens could not be stored (%d attempts, last: %s); "
                        "if Gumloop rotated the refresh token the account will need reconnection",
                        refreshed.id,
                        attempts,
                        type(exc).__name__,
                    )
                    raise
                logger.warning(
                    "account %s: storing refreshed OAuth tokens failed (attempt %d of %d: %s); "
                    "trying again in %.2f s",
                    refreshed.id,
                    attempt,
                    attempts,
                    type(exc).__name__,
                    pause,
                )
            await asyncio.sleep(pause)
            pause *= 2

    def _with_tokens(
        self, account: StoredAccount, answer: _TokenAnswer, client_id: str, keep_refresh: SecretStr | str
    ) -> StoredAccount:
        expires = (
            None
            if answer.expires_in is None
            else datetime.fromtimestamp(self._clock() + answer.expires_in, UTC)
        )
        refresh = (
            SecretStr(answer.refresh_token)
            if answer.refresh_token
            else SecretStr(
                str(keep_refresh.get_secret_value() if isinstance(keep_refresh, SecretStr) else keep_refresh)
            )
        )
        return replace(
            account,
            secret=SecretStr(answer.access_token),
            state="active",
            oauth=OAuthGrant(
                client_id=client_id, refresh_token=refresh, expires_at=expires, scope=answer.scope
            ),
        )

    # -- revoking -------------------------------------------------------------------------------

    async def revoke(self, account: StoredAccount) -> None:
        """Revoke the refresh and access tokens at Gumloop; failures are logged, not raised."""
        grant = account.oauth
        if account.credential_kind != "oauth_connection" or grant is None or not grant.client_id:
            return
        url = oauth_root(account.api_base_url) + "/oauth/revoke"
        for token in (grant.refresh_token, account.secret):
            if not token.get_secret_value():
                continue
            try:
                response = await self._post(
                    url,
                    data={"client_id": grant.client_id, "token": token.get_secret_value()},
                    what="revocation",
                )
            except errors.UpstreamError as exc:
                logger.warning("account %s: token revocation failed: %s", account.id, type(exc).__name__)
                return
            if response.status_code >= 400:
                logger.warning(
                    "account %s: Gumloop refused a token revocation: HTTP %d",
                    account.id,
                    response.status_code,
                )
        logger.info("account %s: OAuth tokens revoked", account.id)

    # -- HTTP -----------------------------------------------------------------------------------

    async def _post(self, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._client.post(url, timeout=self._settings.oauth_timeout_s, **kwargs)
        except httpx.TimeoutException as exc:
            raise errors.UpstreamTimeout(
                f"Gumloop's OAuth server did not answer {what} in time", operation="oauth"
            ) from exc
        except httpx.HTTPError as exc:
            raise errors.UpstreamUnavailable(
                f"Gumloop's OAuth server could not be reached for {what}: {type(exc).__name__}",
                operation="oauth",
            ) from exc

    async def _token(self, root: str, form: dict[str, str], what: str) -> _TokenAnswer:
        response = await self._post(root + "/oauth/token", data=form, what=what)
        status = response.status_code
        if status in (400, 401) or (400 <= status < 500 and status != 429):
            raise _refusal(response)
        if status >= 400:
            raise errors.UpstreamUnavailable(
                f"Gumloop's OAuth server answered {what} with HTTP {status}",
                http_status=status,
                operation="oauth",
            )
        try:
            return _TokenAnswer.model_validate_json(response.content)
        except ValidationError as exc:
            raise errors.UpstreamMalformed(
                f"Gumloop's token endpoint answered {what} without a usable token",
                http_status=status,
                operation="oauth",
            ) from exc


def _refusal(response: httpx.Response) -> _Refused:
    try:
        body = response.json()
    except ValueError:
        body = None
    error, description = "", ""
    if isinstance(body, dict):
        raw = body.get("error")
        if isinstance(raw, dict):  # Gumloop's nested envelope
            error, description = str(raw.get("code") or ""), str(raw.get("message") or "")
        else:
            error, description = (
                str(raw or ""),
                str(body.get("error_description") or body.get("message") or ""),
            )
    return _Refused(
        response.status_code, _clean(error, 100) or f"HTTP {response.status_code}", _clean(description)
    )


def _flow_key(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogateescape")).hexdigest()


def _needs_reconnection(account_id: str, why: str = "") -> str:
    return (
        f"account {account_id} needs reconnection: Gumloop refused to refresh its OAuth access"
        + (f" ({why})" if why else "")
        + f"; reconnect it (management API: POST /integrated-account/{account_id}/oauth/start, "
        f"or `gumloop-mcp accounts reconnect {account_id}`)"
    )


def _check_state(account: StoredAccount) -> None:
    if account.state == "pending_authorization":
        raise errors.AccountNotReady(
            f"account {account.id} is waiting for its OAuth authorization: open the authorization URL "
            "its connection returned (or start the connection again)"
        )
    if account.state == "needs_reconnection":
        raise errors.AccountNotReady(_needs_reconnection(account.id))
