"""Confirm-then-act: every destructive console action is a page saying what will happen and a POST
that does it (one management API call), built from one `Confirmed` description.

Both steps load the same context first, so the POST answers exactly like the page would when the
object is gone (404) or the session's token no longer works (sign in again), and the action sees
what the person confirmed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from .app import render

__all__ = ["Act", "Confirmed", "Context", "Loader", "add_confirmed"]

Context = dict[str, Any]
Loader = Callable[[web.Request], Awaitable[Context]]
Act = Callable[[web.Request, Context, MultiDictProxy[Any]], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Confirmed:
    """A destructive action: `template` rendered with `load`'s context asks; `act` does it."""

    template: str
    load: Loader
    act: Act

    async def page(self, request: web.Request) -> web.StreamResponse:
        return render(request, self.template, **await self.load(request))

    async def confirm(self, request: web.Request) -> web.StreamResponse:
        context = await self.load(request)
        return await self.act(request, context, await request.post())


def add_confirmed(app: web.Application, path: str, action: Confirmed) -> None:
    """GET `path` asks, POST `path` (CSRF-checked by the console middleware) acts."""
    app.router.add_get(path, action.page)
    app.router.add_post(path, action.confirm)
