"""Browser profiles (official SDK 0.5.9 ``BrowserProfiles``): list, create, get, update (rename, make
default), delete, and importing sign-in cookies.

Cookie values are secrets: the emulator never stores, logs or returns them; a profile keeps only a count
per site (and a size). ``default`` in a path names the user's default profile. A list with team_id shows
the user's profiles and that team's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gumloop_mcp.emulator.context import Emulator, emu, json_body, required
from gumloop_mcp.emulator.errors import ApiError, bad_request
from gumloop_mcp.emulator.store import iso, new_id

routes = web.RouteTableDef()
API = "/api/v1"
MAX_COOKIES = 5000
SAME_SITE = {"Strict", "Lax", "None"}


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise bad_request("name must be a non-blank string of at most 255 characters", param="name")
    return value


def _profile(e: Emulator, profile_id: str) -> dict[str, Any]:
    profiles = e.store.browser_profiles
    if profile_id == "default":
        found = next((p for p in profiles.values() if p["is_default"] and p["owner_scope"] == "user"), None)
    else:
        found = profiles.get(profile_id)
    if found is None:
        raise ApiError(404, "browser_profile_not_found", f"browser profile {profile_id!r} not found")
    return found


@routes.get(API + "/browser-profiles")
async def list_profiles(request: web.Request) -> web.Response:
    """The user's profiles, plus the team's when team_id is given."""
    e = emu(request)
    team = request.query.get("team_id")
    items = [
        p
        for p in e.store.browser_profiles.values()
        if p["owner_scope"] == "user" or (team and p["owner_scope"] == "team" and p["owner_id"] == team)
    ]
    items.sort(key=lambda p: (not p["is_default"], str(p["created_ts"])))
    return web.json_response({"profiles": items})


@routes.post(API + "/browser-profiles")
async def create_profile(request: web.Request) -> web.Response:
    """201 with an empty personal profile (the first one becomes the default)."""
    e, body = emu(request), await json_body(request)
    name = _name(required(body, "name"))
    now = iso(e.clock.now())
    first = not any(p["owner_scope"] == "user" for p in e.store.browser_profiles.values())
    profile_id = new_id("bp_")
    profile: dict[str, Any] = {
        "profile_id": profile_id,
        "owner_id": e.store.user_id,
        "owner_scope": "user",
        "name": name,
        "is_default": first,
        "version": 0,
        "sites": [],
        "size_bytes": 0,
        "has_storage": False,
        "created_by_user_id": e.store.user_id,
        "created_ts": now,
        "updated_ts": now,
        "last_used_ts": None,
    }
    e.store.browser_profiles[profile_id] = profile
    return web.json_response(profile, status=201)


@routes.get(API + "/browser-profiles/{profile_id}")
async def get_profile(request: web.Request) -> web.Response:
    """One profile."""
    return web.json_response(_profile(emu(request), request.match_info["profile_id"]))


@routes.patch(API + "/browser-profiles/{profile_id}")
async def update_profile(request: web.Request) -> web.Response:
    """Rename and/or make the default (is_default can only be true)."""
    e, body = emu(request), await json_body(request)
    profile = _profile(e, request.match_info["profile_id"])
    if "name" not in body and "is_default" not in body:
        raise bad_request("pass name or is_default=true")
    if "name" in body:
        profile["name"] = _name(body["name"])
    if "is_default" in body:
        if body["is_default"] is not True:
            raise bad_request(
                "is_default can only be true: make another profile the default", param="is_default"
            )
        for other in e.store.browser_profiles.values():
            if other["owner_scope"] == profile["owner_scope"] and other["owner_id"] == profile["owner_id"]:
                other["is_default"] = False
        profile["is_default"] = True
    profile["updated_ts"] = iso(e.clock.now())
    return web.json_response(profile)


@routes.delete(API + "/browser-profiles/{profile_id}")
async def delete_profile(request: web.Request) -> web.Response:
    """Delete a profile and its saved sign-ins; the default cannot go while others remain."""
    e = emu(request)
    profile = _profile(e, request.match_info["profile_id"])
    others = [
        p
        for p in e.store.browser_profiles.values()
        if p is not profile
        and p["owner_scope"] == profile["owner_scope"]
        and p["owner_id"] == profile["owner_id"]
    ]
    if profile["is_default"] and others:
        raise ApiError(409, "default_profile", "make another profile the default before deleting this one")
    del e.store.browser_profiles[profile["profile_id"]]
    return web.json_response({"status": "success"})


def _domain(value: str) -> str:
    return value.strip().lstrip(".").lower()


def _matches(domain: str, host: str) -> bool:
    return domain == host or domain.endswith("." + host) or host.endswith("." + domain)


@routes.post(API + "/browser-profiles/{profile_id}/cookies")
async def import_cookies(request: web.Request) -> web.Response:
    """Count the cookies per site (values are dropped at once); with url only that site's are kept."""
    e, body = emu(request), await json_body(request)
    profile = _profile(e, request.match_info["profile_id"])
    cookies = body.get("cookies")
    if not isinstance(cookies, list) or not cookies or len(cookies) > MAX_COOKIES:
        raise bad_request(f"cookies must list 1 to {MAX_COOKIES} cookies", param="cookies")
    host = None
    if (url := body.get("url")) is not None:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("url must be an http(s) URL", param="url")
        host = _domain(parts.hostname)
    counts: dict[str, int] = {}
    size = 0
    skipped = 0
    for n, cookie in enumerate(cookies):
        where = f"cookies[{n}]"
        if not isinstance(cookie, dict) or not all(
            isinstance(cookie.get(k), str) for k in ("name", "value", "domain")
        ):
            raise bad_request(f"{where} needs string name, value and domain", param=where)
        if not cookie["name"] or not _domain(cookie["domain"]):
            raise bad_request(f"{where} needs a non-empty name and domain", param=where)
        if "sameSite" in cookie and cookie["sameSite"] not in SAME_SITE:
            raise bad_request(f"{where}.sameSite must be one of {sorted(SAME_SITE)}", param=where)
        domain = _domain(cookie["domain"])
        if host is not None and not _matches(domain, host):
            skipped += 1
            continue
        counts[domain] = counts.get(domain, 0) + 1
        size += len(cookie["name"]) + len(cookie["value"])
    now = iso(e.clock.now())
    sites = {s["domain"]: s for s in profile["sites"]}
    for domain, count in counts.items():
        sites[domain] = {"domain": domain, "cookie_count": count, "updated_ts": now}
    profile.update(
        sites=sorted(sites.values(), key=lambda s: str(s["domain"])),
        size_bytes=profile["size_bytes"] + size,
        version=profile["version"] + (1 if counts else 0),
        updated_ts=now,
    )
    imported = {
        "site": host,
        "cookie_count": sum(counts.values()),
        "skipped": skipped,
        "sites": sorted(counts),
    }
    return web.json_response({"profile": profile, "imported": imported})
