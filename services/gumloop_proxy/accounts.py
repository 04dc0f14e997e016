"""Integrated accounts: the records, their validation and the store contract.

A stored account keeps its credential encrypted (crypto.py); the secret is held as a SecretStr in
memory, never returned by to_proto(), never shown by repr(). An OAuth connection (kind
`oauth_connection`, oauth_accounts.py) keeps its access token as the secret and its refresh token
beside it in the same ciphertext (`stored_secret()`), plus the non-secret grant facts (client id,
expiry, scope) in the record; its `state` says whether it can be used. Both stores (SQLite, Redis) list in
one stable order (creation time, then id) with the same opaque page token. The service's
composition root (server.py, `open_account_store`) picks the store from the settings.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

from .egress import refusal
from .errors import InvalidArguments
from .settings import ProxySettings

__all__ = [
    "AccountStateName",
    "AccountStore",
    "OAuthGrant",
    "CredentialKindName",
    "NewAccount",
    "StoredAccount",
    "StoredCredential",
    "decode_page_token",
    "encode_page_token",
    "generate_account_id",
    "new_account_from_proto",
    "sort_key",
]

CredentialKindName = Literal["api_key", "oauth", "oauth_connection"]
AccountStateName = Literal["active", "pending_authorization", "needs_reconnection"]
MAX_NAME_CHARS = 200
MAX_ID_CHARS = 128
MAX_URL_CHARS = 2048
MAX_CONCURRENCY = 1000
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_KIND_TO_PROTO: dict[str, int] = {
    "api_key": pb.CREDENTIAL_KIND_API_KEY,
    "oauth": pb.CREDENTIAL_KIND_OAUTH_ACCESS_TOKEN,
    "oauth_connection": pb.CREDENTIAL_KIND_OAUTH_CONNECTION,
}
_PROTO_TO_KIND: dict[int, CredentialKindName] = {v: k for k, v in _KIND_TO_PROTO.items()}  # type: ignore[misc]
_STATE_TO_PROTO: dict[str, int] = {
    "active": pb.ACCOUNT_STATE_ACTIVE,
    "pending_authorization": pb.ACCOUNT_STATE_PENDING_AUTHORIZATION,
    "needs_reconnection": pb.ACCOUNT_STATE_NEEDS_RECONNECTION,
}


def generate_account_id() -> str:
    """`acc_` and 22 url-safe random characters (128 bits)."""
    return "acc_" + secrets.token_urlsafe(16)


def _kind_name(kind: CredentialKindName | int) -> CredentialKindName:
    if isinstance(kind, int):
        try:
            return _PROTO_TO_KIND[kind]
        except KeyError:
            raise ValueError(f"unsupported credential kind {kind}") from None
    if kind not in _KIND_TO_PROTO:
        raise ValueError(f"unsupported credential kind {kind!r}")
    return kind


@dataclass(frozen=True, repr=False)
class OAuthGrant:
    """What an OAuth connection keeps besides its access token: the refresh token (secret) and facts."""

    client_id: str
    refresh_token: SecretStr
    # When the access token expires (UTC); None when Gumloop gave no expires_in.
    expires_at: datetime | None
    scope: str = ""

    def __repr__(self) -> str:
        return f"OAuthGrant(client_id={self.client_id!r}, expires_at={self.expires_at!r}, refresh_token=***)"


@dataclass(frozen=True, repr=False)
class NewAccount:
    """A validated account to create. `credential_kind` may be given as the proto enum value too."""

    display_name: str
    credential_kind: CredentialKindName | int
    secret: SecretStr | str
    user_id: str
    team_id: str
    project_id: str
    api_base_url: str
    stream_base_url: str
    max_concurrency: int
    # Empty: the store generates one.
    id: str = ""

    def __post_init__(self) -> None:
        # Normalized once so stores see one spelling and the secret is always wrapped.
        object.__setattr__(self, "credential_kind", _kind_name(self.credential_kind))
        if not isinstance(self.secret, SecretStr):
            object.__setattr__(self, "secret", SecretStr(self.secret))

    @property
    def kind(self) -> CredentialKindName:
        """The credential kind's name."""
        return _kind_name(self.credential_kind)

    @property
    def secret_value(self) -> SecretStr:
        """The secret, wrapped."""
        return self.secret if isinstance(self.secret, SecretStr) else SecretStr(self.secret)

    def __repr__(self) -> str:
        return f"NewAccount(id={self.id!r}, display_name={self.display_name!r}, kind={self.kind}, secret=***)"


@dataclass(frozen=True)
class StoredCredential:
    """The credential view the request builder uses (kind as the proto enum value)."""

    kind: int
    secret: SecretStr = field(repr=False)


@dataclass(frozen=True, repr=False)
class StoredAccount:
    """An account as stored, with its decrypted secret in memory."""

    id: str
    display_name: str
    credential_kind: CredentialKindName
    secret: SecretStr
    user_id: str
    team_id: str
    project_id: str
    api_base_url: str
    stream_base_url: str
    max_concurrency: int
    created_at: datetime
    state: AccountStateName = "active"
    # OAuth connections only.
    oauth: OAuthGrant | None = None

    @property
    def credential(self) -> StoredCredential:
        """Kind (proto enum value) and secret, for building upstream requests.

        An OAuth connection's access token is sent exactly as an OAuth access token is."""
        kind = "oauth" if self.credential_kind == "oauth_connection" else self.credential_kind
        return StoredCredential(_KIND_TO_PROTO[kind], self.secret)

    def stored_secret(self) -> SecretStr:
        """The plaintext the store encrypts: the secret, or for an OAuth connection both tokens as JSON."""
        if self.credential_kind != "oauth_connection":
            return self.secret
        refresh = self.oauth.refresh_token.get_secret_value() if self.oauth else ""
        return SecretStr(
            json.dumps({"access_token": self.secret.get_secret_value(), "refresh_token": refresh})
        )

    def to_proto(self) -> pb.IntegratedAccount:
        """The public view: everything except the secret."""
        message = pb.IntegratedAccount(
            id=self.id,
            display_name=self.display_name,
            credential_kind=_KIND_TO_PROTO[self.credential_kind],  # type: ignore[arg-type]
            user_id=self.user_id,
            team_id=self.team_id,
            project_id=self.project_id,
            api_base_url=self.api_base_url,
            stream_base_url=self.stream_base_url,
            max_concurrency=self.max_concurrency,
            state=_STATE_TO_PROTO[self.state],  # type: ignore[arg-type]
        )
        message.create_time.FromDatetime(self.created_at)
        if self.oauth is not None and self.oauth.expires_at is not None and self.state == "active":
            message.access_token_expire_time.FromDatetime(self.oauth.expires_at)
        return message

    def __repr__(self) -> str:
        return (
            f"StoredAccount(id={self.id!r}, display_name={self.display_name!r}, "
            f"kind={self.credential_kind}, user_id={self.user_id!r}, secret=***)"
        )

    def public_record(self) -> dict[str, Any]:
        """Every field but the secret, as JSON-ready values (what the stores persist besides it)."""
        return {
            "id": self.id,
            "display_name": self.display_name,
            "credential_kind": self.credential_kind,
            "user_id": self.user_id,
            "team_id": self.team_id,
            "project_id": self.project_id,
            "api_base_url": self.api_base_url,
            "stream_base_url": self.stream_base_url,
            "max_concurrency": self.max_concurrency,
            "created_at": self.created_at.isoformat(),
            "state": self.state,
            **(
                {
                    "oauth_client_id": self.oauth.client_id,
                    "oauth_expires_at": self.oauth.expires_at.isoformat() if self.oauth.expires_at else None,
                    "oauth_scope": self.oauth.scope,
                }
                if self.oauth is not None
                else {}
            ),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], secret: SecretStr) -> StoredAccount:
        """Rebuild from public_record() output and the decrypted stored_secret()."""
        kind = _kind_name(str(record["credential_kind"]))  # type: ignore[arg-type]
        oauth = None
        if kind == "oauth_connection":
            tokens = json.loads(secret.get_secret_value())
            secret = SecretStr(str(tokens["access_token"]))
            expires = record.get("oauth_expires_at")
            oauth = OAuthGrant(
                client_id=str(record.get("oauth_client_id") or ""),
                refresh_token=SecretStr(str(tokens["refresh_token"])),
                expires_at=datetime.fromisoformat(str(expires)) if expires else None,
                scope=str(record.get("oauth_scope") or ""),
            )
        return cls(
            id=str(record["id"]),
            display_name=str(record["display_name"]),
            credential_kind=kind,
            secret=secret,
            user_id=str(record["user_id"]),
            team_id=str(record["team_id"]),
            project_id=str(record["project_id"]),
            api_base_url=str(record["api_base_url"]),
            stream_base_url=str(record["stream_base_url"]),
            max_concurrency=int(record["max_concurrency"]),
            created_at=datetime.fromisoformat(str(record["created_at"])),
            state=record.get("state") or "active",
            oauth=oauth,
        )


def stored_from_new(spec: NewAccount, account_id: str, created_at: datetime | None = None) -> StoredAccount:
    """The record a store writes for `spec` under `account_id` (an OAuth connection starts pending)."""
    pending = spec.kind == "oauth_connection"
    return StoredAccount(
        id=account_id,
        display_name=spec.display_name,
        credential_kind=spec.kind,
        secret=spec.secret_value,
        user_id=spec.user_id,
        team_id=spec.team_id,
        project_id=spec.project_id,
        api_base_url=spec.api_base_url,
        stream_base_url=spec.stream_base_url,
        max_concurrency=spec.max_concurrency,
        created_at=created_at or datetime.now(UTC),
        state="pending_authorization" if pending else "active",
        oauth=OAuthGrant("", SecretStr(""), None) if pending else None,
    )


def sort_key(account: StoredAccount) -> str:
    """The listing order: creation time (microseconds, zero-padded) then id."""
    micros = int(account.created_at.timestamp() * 1_000_000)
    return f"{micros:020d}:{account.id}"


def encode_page_token(key: str) -> str:
    """An opaque token for "continue after `key`"."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    """The sort key a page token stands for; InvalidArguments for a token we did not issue."""
    try:
        key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        key = ""
    head, _, tail = key.partition(":")
    if len(head) != 20 or not head.isdigit() or not tail:
        raise InvalidArguments([("page_token", "is not a token from a previous list call")])
    return key


def _check_url(field_name: str, url: str, violations: list[tuple[str, str]], settings: ProxySettings) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host or len(url) > MAX_URL_CHARS:
        violations.append((field_name, "must be an http(s) URL with a host"))
    elif parts.query or parts.fragment or parts.username or parts.password:
        violations.append((field_name, "must not carry a query, fragment or user info"))
    elif (
        why := refusal(host, settings.upstream_allowed_hosts, settings.allow_link_local_upstream)
    ) is not None:
        violations.append((field_name, why))


def _check_account_fields(
    account: pb.IntegratedAccount, violations: list[tuple[str, str]], settings: ProxySettings
) -> tuple[str, str]:
    """Checks shared by every way of creating an account; the base URLs with defaults applied."""
    if account.id and not _ACCOUNT_ID.match(account.id):
        violations.append(("account.id", f"must be at most {MAX_ID_CHARS} letters, digits, '_', '.' or '-'"))
    if len(account.display_name) > MAX_NAME_CHARS:
        violations.append(("account.display_name", f"must be at most {MAX_NAME_CHARS} characters"))
    for name in ("user_id", "team_id", "project_id"):
        value = getattr(account, name)
        if len(value) > MAX_ID_CHARS:
            violations.append((f"account.{name}", f"must be at most {MAX_ID_CHARS} characters"))
        elif not value.isprintable():
            # user_id is sent as the x-auth-key header: a CR/LF would break every call of the account.
            violations.append((f"account.{name}", "must be printable text on one line"))
    api_base = (account.api_base_url or settings.default_api_base_url).rstrip("/")
    stream_base = (account.stream_base_url or settings.default_stream_base_url).rstrip("/")
    _check_url("account.api_base_url", api_base, violations, settings)
    _check_url("account.stream_base_url", stream_base, violations, settings)
    if not 0 <= account.max_concurrency <= MAX_CONCURRENCY:
        violations.append(("account.max_concurrency", f"must be between 0 (default) and {MAX_CONCURRENCY}"))
    return api_base, stream_base


def new_oauth_account_from_proto(account: pb.IntegratedAccount, settings: ProxySettings) -> NewAccount:
    """Validate the account of a StartAccountOAuth request: a pending OAuth connection."""
    violations: list[tuple[str, str]] = []
    api_base, stream_base = _check_account_fields(account, violations, settings)
    if account.credential_kind not in (pb.CREDENTIAL_KIND_UNSPECIFIED, pb.CREDENTIAL_KIND_OAUTH_CONNECTION):
        violations.append(
            ("account.credential_kind", "must be CREDENTIAL_KIND_OAUTH_CONNECTION or left unset")
        )
    if violations:
        raise InvalidArguments(violations, "invalid account")
    return NewAccount(
        id=account.id,
        display_name=account.display_name,
        credential_kind="oauth_connection",
        secret=SecretStr(""),
        user_id=account.user_id,
        team_id=account.team_id,
        project_id=account.project_id,
        api_base_url=api_base,
        stream_base_url=stream_base,
        max_concurrency=account.max_concurrency or settings.default_account_concurrency,
    )


def new_account_from_proto(req: pb.CreateIntegratedAccountRequest, settings: ProxySettings) -> NewAccount:
    """Validate a create request and apply settings defaults; InvalidArguments lists every problem."""
    account, credential = req.account, req.credential
    violations: list[tuple[str, str]] = []
    api_base, stream_base = _check_account_fields(account, violations, settings)
    kind = _PROTO_TO_KIND.get(credential.kind)
    if kind is None or kind == "oauth_connection":
        kind = None
        violations.append(
            (
                "credential.kind",
                "must be CREDENTIAL_KIND_API_KEY or CREDENTIAL_KIND_OAUTH_ACCESS_TOKEN "
                "(an OAuth connection is made with StartAccountOAuth)",
            )
        )
    if not credential.secret.strip():
        violations.append(("credential.secret", "is required"))
    elif len(credential.secret) > 4096 or any(c in credential.secret for c in "\r\n\x00"):
        violations.append(("credential.secret", "must be at most 4096 characters on one line"))
    if kind == "api_key" and not account.user_id:
        violations.append(("account.user_id", "is required with an API key (sent as x-auth-key)"))
    if account.credential_kind not in (pb.CREDENTIAL_KIND_UNSPECIFIED, credential.kind):
        violations.append(("account.credential_kind", "must match credential.kind or be left unset"))
    if violations or kind is None:
        raise InvalidArguments(violations, "invalid account")
    return NewAccount(
        id=account.id,
        display_name=account.display_name,
        credential_kind=kind,
        secret=SecretStr(credential.secret.strip()),
        user_id=account.user_id,
        team_id=account.team_id,
        project_id=account.project_id,
        api_base_url=api_base,
        stream_base_url=stream_base,
        max_concurrency=account.max_concurrency or settings.default_account_concurrency,
    )


class AccountStore(Protocol):
    """Where integrated accounts live. Errors: NotFound, AlreadyExists, StoreUnavailable."""

    async def create(self, spec: NewAccount) -> StoredAccount:
        """Store a new account (id generated when the spec has none)."""
        ...

    async def get(self, account_id: str) -> StoredAccount:
        """One account with its decrypted secret."""
        ...

    async def list(self, page_size: int, page_token: str) -> tuple[list[StoredAccount], str]:
        """A page in stable order and the token of the next page ("" at the end)."""
        ...

    async def delete(self, account_id: str) -> None:
        """Remove an account."""
        ...

    async def replace(self, account: StoredAccount) -> None:
        """Write over the stored record of this very account (same id and creation time): new tokens or
        state. NotFound when it was deleted (or deleted and created again) meanwhile: never revives one."""
        ...

    async def claim(self, name: str, claim_id: str, lease_s: float) -> bool:
        """Take the named claim (e.g. one account's token refresh) for `lease_s` seconds, shared by every
        replica using this store; False while another holder's lease runs."""
        ...

    async def release(self, name: str, claim_id: str) -> None:
        """Give the claim up, only if `claim_id` still holds it."""
        ...

    async def put_flow(self, key: str, payload: SecretStr, ttl_s: float) -> None:
        """Keep a pending OAuth flow (encrypted) under `key` for `ttl_s` seconds."""
        ...

    async def take_flow(self, key: str) -> SecretStr | None:
        """The flow under `key`, removed as it is read (single use); None when unknown or expired."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
