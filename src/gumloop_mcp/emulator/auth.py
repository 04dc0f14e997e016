"""Gumloop's authentication: API key (``Authorization: Bearer`` + ``x-auth-key: <user_id>``), OAuth bearer
tokens, ``?api_key=`` on legacy endpoints, and the legacy ``user_id``/``project_id`` requirement."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from gumloop_mcp.emulator.errors import bad_request, forbidden, unauthorized
from gumloop_mcp.emulator.oauth import OAuthServer
from gumloop_mcp.emulator.settings import EmulatorSettings

MISSING = "Authorization header with Bearer token or api_key query parameter is required"


def authenticate(
    request: web.Request,
    settings: EmulatorSettings,
    *,
    legacy: bool,
    oauth: OAuthServer | None = None,
    now: float = 0.0,
) -> None:
    """Raise 401 unless the request carries a valid API key (with the right user) or OAuth token: one of
    ``settings.oauth_tokens`` or a live access token ``oauth`` issued (expired or revoked: 401 saying so)."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not token and legacy:
        token = request.query.get("api_key", "")
    if not token:
        raise unauthorized(MISSING)
    if any(_same(token, t) for t in settings.oauth_tokens):
        return
    if oauth is not None:
        problem = oauth.access_problem(token, now)
        if problem is None:
            return
        if problem != "unknown":
            raise unauthorized(problem)
    if not _same(token, settings.api_key):
        raise unauthorized("Invalid API key or access token")
    user = request.headers.get("x-auth-key")
    if user is None and legacy:
        return  # legacy endpoints take the user from user_id/project_id instead
    if user != settings.user_id:
        raise unauthorized("x-auth-key must carry the user ID that owns the API key")


def _same(given: str, expected: str) -> bool:
    """Constant-time equality on UTF-8 bytes (compare_digest raises on non-ASCII str: a 500)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def legacy_owner(params: dict[str, Any] | Any, settings: EmulatorSettings) -> None:
    """Legacy endpoints need ``user_id`` or ``project_id``; 400 when absent, 403 when not ours."""
    user_id = params.get("user_id")
    project_id = params.get("project_id")
    if not user_id and not project_id:
        raise bad_request("project_id or user_id is required", param="user_id")
    if user_id and user_id != settings.user_id:
        raise forbidden(f"user {user_id!r} is not the owner of this API key")
    if project_id and not user_id and project_id != settings.team_id:
        raise forbidden(f"project {project_id!r} is not accessible with this API key")
