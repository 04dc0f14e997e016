"""Console sign-in at the identity provider (GMCP_FACADE_OIDC_*), for the console's allowed operators.

The same provider and client as OAuth consent (oauth/oidc.py: authorization code with PKCE, nonce,
ID-token validation), with its own callback, `<admin base URL>/console/oidc/callback`, and its own
allowed set (GMCP_FACADE_CONSOLE_ALLOWED_EMAILS/_DOMAINS/_GROUPS; all empty: nobody).

A sign-in in progress is kept on the façade's grant store (memory or Redis, 10 minutes, taken once)
under the digest of its `state`, with the digest of a random value also set in an HttpOnly cookie
on this browser: a callback from another browser (a login-CSRF attempt) does not match it.

Authority for the management API: the console has no API token from such a person, so on a
successful sign-in it mints one through the token service (purpose MANAGEMENT, unbound, named
`console: <email>`, expiring with the session's maximum age) and keeps it server-side in the session
like a pasted token; sign-out revokes it, and so does the session's end by idleness or age
(sessions.py: found expired on its next use, or by the periodic sweep). Every console action still
goes through the management API with that token, so the console can do nothing the API cannot, and
the token is listed (and revocable) with the other API tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Final

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as tpb
from gumloop_mcp.tokens.v1.tokens_service_pb2_grpc import TokenServiceStub

from ..oauth.oidc import AllowedSet, Identity, OidcError, OidcProvider, PendingSignIn
from ..oauth.store import GrantStore, StoreUnavailable
from ..settings import FacadeSettings
from .sessions import Operator

__all__ = ["ConsoleIdentityProvider", "SignInRefused", "StartedSignIn", "console_allowed_set"]

logger = logging.getLogger(__name__)

_PENDING_TTL_S: Final = 600.0
_KEY_PREFIX: Final = "console-oidc:"
_TIMEOUT_S: Final = 10.0
_NAME_PREFIX: Final = "console: "
_MAX_NAME: Final = 128


class SignInRefused(Exception):
    """The sign-in did not end in a session: the message says why, for the person (HTTP `status`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True, slots=True)
class StartedSignIn:
    """Where to send the browser, and the value of its binding cookie."""

    url: str
    binding: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def console_allowed_set(settings: FacadeSettings) -> AllowedSet:
    """GMCP_FACADE_CONSOLE_ALLOWED_*: emails and domains compared lowercased (a leading @ is dropped)."""
    return AllowedSet.of(
        [e.strip().lower() for e in settings.console_allowed_emails if e.strip()],
        [d.strip().lower().lstrip("@") for d in settings.console_allowed_domains if d.strip()],
        [g.strip() for g in settings.console_allowed_groups if g.strip()],
    )


class ConsoleIdentityProvider:
    """Start and finish a console sign-in; mint and revoke the session's management token."""

    def __init__(
        self,
        provider: OidcProvider,
        allowed: AllowedSet,
        store: GrantStore,
        tokens: TokenServiceStub,
        token_ttl_s: float,
    ) -> None:
        self.provider, self.allowed = provider, allowed
        self._store, self._tokens, self._token_ttl_s = store, tokens, token_ttl_s

    async def start(self, redirect_uri: str) -> StartedSignIn:
        try:
            pending = await self.provider.start(redirect_uri)
        except OidcError as error:
            logger.warning("console: identity provider unavailable: %s", error)
            raise SignInRefused(
                502, "The identity provider could not be reached; try again shortly."
            ) from None
        binding = secrets.token_urlsafe(32)
        record = {"nonce": pending.nonce, "code_verifier": pending.code_verifier, "binding": _digest(binding)}
        await self._put(_KEY_PREFIX + _digest(pending.state), record)
        return StartedSignIn(pending.url, binding)

    async def _put(self, key: str, record: dict[str, str]) -> None:
        try:
            await self._store.put(key, record, _PENDING_TTL_S)
        except StoreUnavailable:
            raise SignInRefused(503, "The console's sign-in store is unavailable; retry shortly.") from None

    async def finish(self, state: str, code: str, error: str, binding: str, redirect_uri: str) -> Identity:
        """The person the callback names, if their sign-in is this browser's and they are allowed."""
        if not state or len(state) > 200:
            raise SignInRefused(400, "This sign-in is unknown, used or expired: start again.")
        try:
            held = await self._store.take(_KEY_PREFIX + _digest(state))
        except StoreUnavailable:
            raise SignInRefused(503, "The console's sign-in store is unavailable; retry shortly.") from None
        if held is None:
            raise SignInRefused(400, "This sign-in is unknown, used or expired: start again.")
        if not binding or not hmac.compare_digest(_digest(binding), str(held.get("binding", ""))):
            raise SignInRefused(403, "This sign-in was started in another browser: start again here.")
        if error or not code:
            raise SignInRefused(403, "The sign-in at the identity provider did not complete.")
        pending = PendingSignIn(state=state, nonce=held["nonce"], code_verifier=held["code_verifier"], url="")
        try:
            identity = await self.provider.finish(code, redirect_uri, pending)
        except OidcError as failure:
            logger.warning("console: identity provider sign-in failed: %s", failure)
            raise SignInRefused(403, "The sign-in at the identity provider failed: start again.") from None
        if not self.allowed.allows(identity.email, identity.groups):
            logger.info("console: %s is not allowed to sign in", identity.label)
            raise SignInRefused(
                403,
                f"{identity.label} is not allowed to use this console. An administrator can allow people "
                "with GMCP_FACADE_CONSOLE_ALLOWED_EMAILS, _DOMAINS or _GROUPS.",
            )
        return identity

    async def mint(self, identity: Identity) -> tuple[str, Operator]:
        """A management API token for this person's session (its secret, and the session's operator)."""
        expires = Timestamp()
        expires.FromSeconds(int(time.time() + self._token_ttl_s))
        token = tpb.ApiToken(
            name=(_NAME_PREFIX + identity.label)[:_MAX_NAME],
            purposes=[tpb.API_TOKEN_PURPOSE_MANAGEMENT],
            expire_time=expires,
        )
        try:
            resp = await self._tokens.CreateApiToken(
                tpb.CreateApiTokenRequest(api_token=token), timeout=_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as err:
            logger.error("console: could not mint a session token: %s", err.code().name)
            raise SignInRefused(503, "The token service is unavailable; sign in again shortly.") from None
        logger.info("console: %s signed in (session token %s)", identity.label, resp.api_token.id)
        return resp.token, Operator(identity.label, identity.email, identity.groups, resp.api_token.id)

    async def revoke(self, operator: Operator) -> None:
        """Revoke the session's token at sign-out, removal from the allowed set or the session's
        expiry (a failure is logged: the token expires anyway)."""
        try:
            await self._tokens.RevokeApiToken(
                tpb.RevokeApiTokenRequest(id=operator.token_id), timeout=_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                logger.warning(
                    "console: could not revoke session token %s: %s",
                    operator.token_id,
                    err.code().name,
                )

    def still_allowed(self, operator: Operator) -> bool:
        """Whether a signed-in person is still in the allowed set (checked on every request)."""
        return self.allowed.allows(operator.email, operator.groups)
