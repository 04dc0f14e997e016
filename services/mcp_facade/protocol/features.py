"""prompts/*, completion/complete and resources/* for `Protocol` (which dispatches here).

The work is done by prompts/ and resources/, which read Gumloop through the toolbox's tool-calling
path with the request's scope; this module checks params, takes from the call budget what reads
Gumloop, holds subscriptions in LiveWork (a revoked server's watches end) and answers their errors
as JSON-RPC errors:

    InvalidParams      -32602 (unknown prompt or argument, missing argument, bad cursor)
    ResourceNotFound   -32002 on session revisions; -32602 on 2026-07-28 (SEP-2164)
    UpstreamFailed     -32603, with what Gumloop said
    ToolsUnavailable   -32603, HTTP 503 (no catalog and the proxy unreachable)

Subscriptions need a session and its standing stream: on 2026-07-28 resources/subscribe and
resources/unsubscribe are unknown methods (the revision replaced them with subscriptions/listen,
which this server does not offer); resources/list, templates and read work on every revision.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from ..contracts import ToolsUnavailableError
from ..prompts.service import PromptService
from ..resources.errors import FeatureError, InvalidParams, ResourceNotFound
from ..resources.operations import OperationCaller, OperationToolbox
from ..resources.service import ResourceService
from ..resources.subscriptions import Subscriptions
from ..state.state import StateUnavailable
from .jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError
from .live import LiveWork

__all__ = ["CACHEABLE", "FEATURE_METHODS", "RESOURCE_NOT_FOUND", "Features"]

RESOURCE_NOT_FOUND: Final = -32002
FEATURE_METHODS: Final = frozenset(
    {
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
    }
)
# Results a 2026-07-28 client may cache (protocol.py adds ttlMs and cacheScope, as to tools/list).
CACHEABLE: Final = frozenset({"prompts/list", "resources/list", "resources/templates/list", "resources/read"})
_NO_SESSION_WATCH_S: Final = 24 * 3600.0

Charge = Callable[[], Awaitable[None]]


class Features:
    """Prompts, completions and resources of one façade."""

    def __init__(self, toolbox: OperationToolbox, live: LiveWork, *, poll_interval_s: float) -> None:
        caller = OperationCaller(toolbox)
        self.prompts = PromptService(caller)
        self.resources = ResourceService(caller)
        self.subscriptions = Subscriptions(interval_s=poll_interval_s)
        self._live = live

    @staticmethod
    def capabilities(modern: bool) -> dict[str, Any]:
        """prompts, completions and resources (subscribe where sessions and their streams exist)."""
        return {
            "prompts": {"listChanged": False},
            "completions": {},
            "resources": {"subscribe": not modern, "listChanged": False},
        }

    async def handle(self, method: str, params: dict[str, Any], ex: Any, charge: Charge) -> dict[str, Any]:
        """The result of one of FEATURE_METHODS (`ex` is the protocol's Exchange)."""
        try:
            return await self._handle(method, params, ex, charge)
        except ResourceNotFound as exc:
            code = INVALID_PARAMS if ex.modern else RESOURCE_NOT_FOUND
            raise JsonRpcError(code, exc.message, {"uri": exc.uri}) from None
        except InvalidParams as exc:
            raise JsonRpcError(INVALID_PARAMS, exc.message) from None
        except FeatureError as exc:
            raise JsonRpcError(INTERNAL_ERROR, exc.message) from None
        except ToolsUnavailableError as exc:
            raise JsonRpcError(
                INTERNAL_ERROR, f"Gumloop's operations are unavailable right now: {exc}", http_status=503
            ) from exc

    async def _handle(self, method: str, params: dict[str, Any], ex: Any, charge: Charge) -> dict[str, Any]:
        scope = ex.scope
        if method in ("prompts/list", "resources/list", "resources/templates/list"):
            cursor = params.get("cursor")
            if cursor not in (None, ""):
                raise InvalidParams(f"Invalid cursor: {method} returns everything in one page")
        if method == "prompts/list":
            return {"prompts": await self.prompts.list_prompts(scope)}
        if method == "prompts/get":
            return await self.prompts.get(scope, params.get("name"), params.get("arguments"))
        if method == "completion/complete":
            return {"completion": await self._complete(params, ex, charge)}
        if method == "resources/templates/list":
            return {"resourceTemplates": await self.resources.templates(scope)}
        if method == "resources/list":
            await charge()
            return {"resources": await self.resources.list_resources(scope)}
        if ex.modern and method in ("resources/subscribe", "resources/unsubscribe"):
            raise JsonRpcError(
                METHOD_NOT_FOUND,
                f"Method not found: {method} (the stateless {ex.version} revision has no sessions to hold "
                "subscriptions; read the resource again, or use a 2025-11-25 session)",
                http_status=404,
            )
        uri = params.get("uri")
        if not isinstance(uri, str) or not uri:
            raise InvalidParams("Invalid params: `uri` must be a non-empty string")
        if method == "resources/read":
            await charge()
            return {"contents": await self.resources.read(scope, uri)}
        if method == "resources/unsubscribe":
            try:
                await self.subscriptions.unsubscribe_anywhere(ex.conn_key, uri)
            except StateUnavailable:
                raise FeatureError(
                    "The subscription could not be ended right now (another replica runs it); retry"
                ) from None
            return {}
        return await self._subscribe(uri, ex, charge)

    async def _subscribe(self, uri: str, ex: Any, charge: Charge) -> dict[str, Any]:
        scope = ex.scope
        parsed = await self.resources.resolve(scope, uri)
        if not parsed.kind.subscribable:
            raise InvalidParams(
                f"{parsed.kind.title}s do not change once written; subscribe to gumloop://sessions/… or "
                "gumloop://runs/…"
            )
        await charge()
        conn_key = ex.conn_key
        until = ex.session.expires_at if ex.session is not None else time.time() + _NO_SESSION_WATCH_S
        subscriptions = self.subscriptions
        hold = self._live.hold(
            scope.server_id,
            ex.token,
            lambda _reason: subscriptions.cut(conn_key, uri),
            second_factor=ex.second_factor,
        )

        async def fingerprint() -> str:
            return await self.resources.fingerprint(scope, uri)

        await subscriptions.subscribe(
            conn_key, uri, fingerprint, until=until, on_end=lambda: self._live.release(hold)
        )
        return {}

    async def _complete(self, params: dict[str, Any], ex: Any, charge: Charge) -> dict[str, Any]:
        ref = params.get("ref")
        if not isinstance(ref, dict):
            raise InvalidParams(
                "Invalid params: `ref` must be {type: ref/prompt, name} or {type: ref/resource, uri}"
            )
        if ref.get("type") == "ref/prompt":
            return await self.prompts.complete(ex.scope, ref.get("name"), params.get("argument"), charge)
        if ref.get("type") == "ref/resource":
            templates = {t["uriTemplate"] for t in await self.resources.templates(ex.scope)}
            if ref.get("uri") not in templates:
                raise ResourceNotFound(str(ref.get("uri")))
            # Resource ids are long and opaque: resources/list shows the ones worth attaching.
            return {"values": [], "total": 0, "hasMore": False}
        raise InvalidParams("Invalid params: `ref.type` must be ref/prompt or ref/resource")

    async def close(self) -> None:
        await self.subscriptions.close()
