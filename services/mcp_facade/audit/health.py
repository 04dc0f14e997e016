"""An account's credential state, read from its servers' trails: does it need reconnecting?

Gumloop refusing the account's credential shows up as a `credentials_rejected` call
(recorder.audit_outcome). The account needs reconnecting when the newest call of any of its servers
that either succeeded or was refused for the credential was refused: a later successful call (the
credential works again, e.g. the key was restored upstream) clears it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from .records import sort_key
from .store import AuditStore

__all__ = ["CREDENTIALS_REJECTED", "CredentialState", "credential_state"]

CREDENTIALS_REJECTED: Final = "credentials_rejected"
# The outcomes that say whether Gumloop took the credential (a successful call or a refusal).
_SIGNALS: Final = frozenset({"ok", CREDENTIALS_REJECTED})


@dataclass(frozen=True, slots=True)
class CredentialState:
    """Whether the account's credential was refused by its latest telling call, and when (epoch ms)."""

    needs_reconnection: bool
    rejected_at_ms: int | None = None


async def credential_state(store: AuditStore, server_ids: Iterable[str]) -> CredentialState:
    """The state over the trails of `server_ids` (AuditUnavailable when the store is down)."""
    latest = await asyncio.gather(*(store.latest(s, _SIGNALS) for s in server_ids))
    newest = max((r for r in latest if r is not None), key=sort_key, default=None)
    if newest is None or newest.outcome != CREDENTIALS_REJECTED:
        return CredentialState(False)
    return CredentialState(True, newest.time_ms)
