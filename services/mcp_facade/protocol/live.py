"""What this replica holds open per MCP server record, so that revoking or expiring the record cuts it.

ARCHITECTURE flow 8: at `expires_at` (or on DELETE) the record is gone and open sessions on it
are cut. Dropping the token cache only refuses the next request; a legacy HTTP+SSE stream, a
session's GET stream, a tools/call still waiting on Gumloop (`wait_seconds` polls) or a task
runner would carry on. Each of them takes a `Hold` here for as long as it runs, with a `cut`
callback that ends it (a stream closes; a call or task is cancelled and answers a clear error).

Each replica watches revocations itself (auth.TokenResolver) and cuts only what it holds: streams
and runners live in the process that accepted them, so nothing needs to travel between replicas.
The shared state (state.py) only learns of it indirectly: a cut legacy stream releases its claim,
a cut task records its terminal state.

- `cut_server()` (record DELETED or EXPIRED, or its expiry seen on a cache hit) ends every hold of
  the record; on the token service's word (not on a cache hit) it also remembers the id for a
  while: a request that resolved its token just before the event and takes its hold just after is
  cut at once (ids are never reused).
- `cut_token()` (one token stopped resolving: a rotation's grace ended) ends the holds taken with
  that token, leaving the record's other token alone.
- `cut_api_token()` (a second-factor API token was revoked or expired) ends the holds opened with
  it; work of the same record opened with another API token goes on.
- `tokens()` lists the tokens in use, for re-checking them when a record changed (UPDATED,
  ROTATED) or the watch reconnected after missing events; `second_factors()` the API tokens and
  OAuth grants in use, verified again after such a reconnect (and a record's grants against its
  allowed set when it changed).
Tokens are kept in memory only, as long as the hold (the request carries them anyway).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["API_TOKEN_REVOKED_MESSAGE", "REVOKED_MESSAGE", "Hold", "LiveWork", "SecondFactor", "token_key"]

logger = logging.getLogger(__name__)

REVOKED_MESSAGE: Final = (
    "This MCP server URL was revoked or has expired, so the request was cancelled; "
    "ask the workspace admin for a new URL"
)
API_TOKEN_REVOKED_MESSAGE: Final = (
    "The API token this request was authorised with was revoked or has expired, so the request was "
    "cancelled; reconnect with a valid API token"
)
# Finally revoked record ids remembered, so that a racing hold is cut at once.
_REMEMBER_REVOKED: Final = 10_000


def token_key(token: str) -> str:
    """The key a token is known by in caches and cuts (a SHA-256 hex digest, never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """The API token a request passed the second factor with: its id, for cuts on its revocation,
    and the `Authorization` value itself (memory only, never logged or stored, like the URL token),
    to verify it again when revocation events may have been missed."""

    id: str
    account_id: str
    authorization: str = field(repr=False)


@dataclass(eq=False, slots=True)
class Hold:
    """One open stream, in-flight call or task runner of a record."""

    server_id: str
    # The URL token it was opened with ("" for work that outlives a request, such as a task).
    token: str = field(repr=False)
    # Ends the work; called at most once, with the reason to report.
    cut: Callable[[str], None] = field(repr=False)
    token_key: str = ""
    # The second-factor API token it was opened with (None when the record asks for none).
    second_factor: SecondFactor | None = None
    done: bool = False


class LiveWork:
    """The holds of this replica, by record id."""

    def __init__(self) -> None:
        self._by_server: dict[str, set[Hold]] = {}
        self._revoked: OrderedDict[str, None] = OrderedDict()

    def hold(
        self,
        server_id: str,
        token: str,
        cut: Callable[[str], None],
        *,
        second_factor: SecondFactor | None = None,
    ) -> Hold:
        """Register running work; cut at once when the record was already revoked."""
        hold = Hold(server_id, token, cut, token_key(token) if token else "", second_factor)
        if server_id in self._revoked:
            self._cut(hold, REVOKED_MESSAGE)
            return hold
        self._by_server.setdefault(server_id, set()).add(hold)
        return hold

    def release(self, hold: Hold) -> None:
        """The work ended (or was cut): forget it."""
        holds = self._by_server.get(hold.server_id)
        if holds is not None:
            holds.discard(hold)
            if not holds:
                del self._by_server[hold.server_id]

    def cut_server(self, server_id: str, reason: str = REVOKED_MESSAGE, *, remember: bool = True) -> int:
        """End everything held for a record that no longer exists; how many holds were cut.

        `remember` (the token service said DELETED or EXPIRED): later holds of the record are cut at
        once. Not for an expiry this replica only inferred from a cached entry: the record may have
        been extended, and remembering it would refuse every later call of a valid record.
        """
        if remember:
            self._revoked[server_id] = None
            self._revoked.move_to_end(server_id)
            while len(self._revoked) > _REMEMBER_REVOKED:
                self._revoked.popitem(last=False)
        holds = list(self._by_server.pop(server_id, ()))
        for hold in holds:
            self._cut(hold, reason)
        if holds:
            logger.info("cut %d open streams or calls of a revoked MCP server", len(holds))
        return len(holds)

    def cut_token(self, key: str, reason: str = REVOKED_MESSAGE) -> int:
        """End what was opened with the token of `key` (see `token_key`); how many holds were cut."""
        cut = self._cut_where(lambda h: h.token_key == key, reason)
        if cut:
            logger.info("cut %d open streams or calls of a token that no longer resolves", cut)
        return cut

    def cut_api_token(self, api_token_id: str, reason: str = API_TOKEN_REVOKED_MESSAGE) -> int:
        """End what was opened with the second-factor API token `api_token_id`; how many were cut."""
        cut = self._cut_where(
            lambda h: (
                bool(api_token_id) and h.second_factor is not None and h.second_factor.id == api_token_id
            ),
            reason,
        )
        if cut:
            logger.info("cut %d open streams or calls of a revoked API token", cut)
        return cut

    def _cut_where(self, matches: Callable[[Hold], bool], reason: str) -> int:
        cut = 0
        for holds in list(self._by_server.values()):
            for hold in [h for h in holds if matches(h)]:
                self.release(hold)
                self._cut(hold, reason)
                cut += 1
        return cut

    def tokens(self, server_id: str | None = None) -> dict[str, str]:
        """The tokens in use (key -> token), of one record or of all."""
        groups = (
            [self._by_server.get(server_id, set())] if server_id is not None else self._by_server.values()
        )
        return {h.token_key: h.token for holds in groups for h in holds if h.token}

    def second_factors(self, server_id: str | None = None) -> dict[str, SecondFactor]:
        """The second factors in use (id -> factor), of one record or of all, for verifying them again."""
        groups = (
            [self._by_server.get(server_id, set())] if server_id is not None else self._by_server.values()
        )
        return {h.second_factor.id: h.second_factor for holds in groups for h in holds if h.second_factor}

    def count(self, server_id: str | None = None) -> int:
        """How many holds are open (of one record, or in all)."""
        if server_id is not None:
            return len(self._by_server.get(server_id, ()))
        return sum(len(holds) for holds in self._by_server.values())

    @staticmethod
    def _cut(hold: Hold, reason: str) -> None:
        if hold.done:
            return
        hold.done = True
        try:
            hold.cut(reason)
        except Exception:  # one failing cut must not spare the others
            logger.exception("cutting revoked work failed")
