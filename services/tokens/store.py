"""The storage interface shared by the SQLite and Redis backends, and the records it holds.

Times are seconds since the epoch as floats, read from an injected clock so that expiry can be
tested with a controllable one. Stores keep only keyed hashes of tokens (`token_hash`), never raw
tokens. Every backend:

- never returns a record, token or API token whose expiry lies at or before `clock()`, even
  before its sweep deleted it;
- deletes expired records at their due time (`sweep()`, driven by `expiry.ExpiryScheduler`) and
  reports each deletion as a revocation event;
- reports deletions, updates, rotations and API token revocations to its `RevocationHub`, directly
  (SQLite) or through Redis pub/sub so that every replica's watchers hear them;
- raises `errors.StoreUnavailable` when the backing store cannot be reached.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Any, Final, Protocol

from .expiry import Clock, ExpiryScheduler

__all__ = [
    "ApiTokenRecord",
    "Clock",
    "Cursor",
    "Resolution",
    "RevocationEvent",
    "RevocationKind",
    "ScopeChanged",
    "ServerRecord",
    "ServerUpdate",
    "TokenStore",
    "UNCHANGED",
    "Unchanged",
    "new_id",
]

#: Position in a newest-first listing: (create_time, id) of the last item returned.
Cursor = tuple[float, str]

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# 22 base62 characters (131 bits): ids are not secrets, but must never collide.
_ID_LEN = 22


def new_id(prefix: str) -> str:
    """A new random identifier such as "mcp_3kT…" or "apit_9Qx…"."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LEN))


class RevocationKind(enum.IntEnum):
    """Why cached resolutions must be dropped; values match tokens.v1.RevocationKind."""

    UNSPECIFIED = 0
    DELETED = 1
    EXPIRED = 2
    UPDATED = 3
    ROTATED = 4
    API_TOKEN_REVOKED = 5


@dataclass(frozen=True, slots=True)
class RevocationEvent:
    """One revocation, as fanned out to WatchRevocations subscribers."""

    kind: RevocationKind
    mcp_server_id: str = ""
    api_token_id: str = ""
    event_time: float = 0.0


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """An MCP server record (without any token material beyond the visible prefix)."""

    id: str
    name: str
    account_id: str
    methods: tuple[str, ...]
    tags: tuple[str, ...]
    expire_time: float | None
    require_api_token_auth: bool
    create_time: float
    update_time: float
    last_used_time: float | None
    token_prefix: str
    # How the façade lists the tools ("full", "discovery", "auto"; "" = its default) and the
    # model-token budget "auto" uses (0 = the default, scope.DEFAULT_CONTEXT_BUDGET_TOKENS).
    tool_exposure: str = ""
    context_budget_tokens: int = 0
    # The façade's audit trail keeps this server's tool-call arguments and results.
    audit_payloads: bool = False
    # Every MCP request needs an OAuth access token for this server (services/mcp_facade/oauth).
    require_oauth: bool = False
    # Who may consent to an OAuth server when the façade signs people in with an identity provider:
    # verified emails, email domains, ID-token groups (lowercased emails and domains).
    oauth_allowed_emails: tuple[str, ...] = ()
    oauth_allowed_domains: tuple[str, ...] = ()
    oauth_allowed_groups: tuple[str, ...] = ()


class Unchanged(enum.Enum):
    """The type of `UNCHANGED`: a field an update leaves as stored."""

    UNCHANGED = "unchanged"


UNCHANGED: Final = Unchanged.UNCHANGED

#: The ServerRecord fields an update may set.
UPDATABLE_FIELDS: Final = (
    "name",
    "methods",
    "tags",
    "expire_time",
    "require_api_token_auth",
    "tool_exposure",
    "context_budget_tokens",
    "audit_payloads",
    "require_oauth",
    "oauth_allowed_emails",
    "oauth_allowed_domains",
    "oauth_allowed_groups",
)


@dataclass(frozen=True, slots=True)
class ServerUpdate:
    """The fields one update sets (the ones its mask named; the rest stay `UNCHANGED`).

    Stores write only these fields, inside the transaction that checks the record is live, so two
    updates of different fields never undo each other. When only half of the scope changes, the new
    half was validated together with the other half as read: `expect_methods` / `expect_tags` hold
    that half, and the store raises `ScopeChanged` (writing nothing) if it no longer matches.
    """

    update_time: float
    name: str | Unchanged = UNCHANGED
    methods: tuple[str, ...] | Unchanged = UNCHANGED
    tags: tuple[str, ...] | Unchanged = UNCHANGED
    expire_time: float | None | Unchanged = UNCHANGED
    require_api_token_auth: bool | Unchanged = UNCHANGED
    tool_exposure: str | Unchanged = UNCHANGED
    context_budget_tokens: int | Unchanged = UNCHANGED
    audit_payloads: bool | Unchanged = UNCHANGED
    require_oauth: bool | Unchanged = UNCHANGED
    oauth_allowed_emails: tuple[str, ...] | Unchanged = UNCHANGED
    oauth_allowed_domains: tuple[str, ...] | Unchanged = UNCHANGED
    oauth_allowed_groups: tuple[str, ...] | Unchanged = UNCHANGED
    expect_methods: tuple[str, ...] | None = None
    expect_tags: tuple[str, ...] | None = None

    def changes(self) -> dict[str, Any]:
        """The set fields by ServerRecord field name (update_time included)."""
        out: dict[str, Any] = {"update_time": self.update_time}
        for name in UPDATABLE_FIELDS:
            value = getattr(self, name)
            if value is not UNCHANGED:
                out[name] = value
        return out

    def scope_moved(self, methods: tuple[str, ...], tags: tuple[str, ...]) -> bool:
        """Whether the stored scope no longer holds the half this update was validated against."""
        return (self.expect_methods is not None and methods != self.expect_methods) or (
            self.expect_tags is not None and tags != self.expect_tags
        )


class ScopeChanged(Exception):
    """A partial scope update found the other half of the scope changed since it was validated."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """A token resolved to its record, and when that token stops resolving."""

    record: ServerRecord
    token_expire_time: float | None
    #: The hash as stored, for the caller's constant-time comparison with the presented token's hash.
    stored_hash: str


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    """An API token's record; `purposes` hold tokens.v1.ApiTokenPurpose values."""

    id: str
    name: str
    purposes: tuple[int, ...]
    account_id: str
    expire_time: float | None
    create_time: float
    last_used_time: float | None
    token_prefix: str


class TokenStore(Protocol):
    """What the servicer needs from a backend. See the module docstring for the guarantees."""

    #: Deletes due records; tests driving a controllable clock call `expiry.wake()` after moving it.
    expiry: ExpiryScheduler

    async def start(self) -> None:
        """Open connections, create schemas, start the expiry scheduler (and Redis listener)."""

    async def close(self) -> None:
        """Stop background tasks and close connections."""

    async def sweep(self) -> int:
        """Delete everything due by `clock()`, emit EXPIRED events; returns how many records went."""

    async def create_server(self, record: ServerRecord, token_hash: str) -> None:
        """Store a new record whose current token hashes to `token_hash`."""

    async def get_server(self, server_id: str) -> ServerRecord | None:
        """The live record, or None when unknown or expired."""

    async def list_servers(
        self, account_id: str, limit: int, after: Cursor | None
    ) -> tuple[list[ServerRecord], Cursor | None]:
        """Up to `limit` live records of an account, newest first, and the cursor of the next page."""

    async def update_server(self, server_id: str, update: ServerUpdate) -> ServerRecord | None:
        """Set the fields `update` names on a live record, in one transaction, and return the record as
        written; None when it is unknown or expired. Raises ScopeChanged (nothing written) when the
        update's expected scope half moved. Emits UPDATED."""

    async def delete_server(self, server_id: str) -> bool:
        """Delete a record and all its token hashes; emits DELETED. False when it did not exist."""

    async def rotate_server_token(
        self, server_id: str, new_hash: str, new_prefix: str, old_token_until: float
    ) -> ServerRecord | None:
        """Make `new_hash` current; the old hash resolves until `old_token_until`. Emits ROTATED."""

    async def resolve(self, token_hash: str, touch_after_s: float) -> Resolution | None:
        """The record a live token belongs to; refreshes last-used when older than `touch_after_s`."""

    async def create_api_token(self, record: ApiTokenRecord, token_hash: str) -> None:
        """Store a new API token record."""

    async def list_api_tokens(
        self, account_id: str, limit: int, after: Cursor | None
    ) -> tuple[list[ApiTokenRecord], Cursor | None]:
        """Live API tokens (bound to `account_id` when non-empty), newest first, paginated."""

    async def delete_api_token(self, token_id: str) -> bool:
        """Hard-delete an API token; emits API_TOKEN_REVOKED. False when it did not exist."""

    async def verify_api_token(
        self, token_hash: str, touch_after_s: float
    ) -> tuple[ApiTokenRecord, str] | None:
        """The live API token with this hash and the hash as stored; refreshes last-used when stale."""
