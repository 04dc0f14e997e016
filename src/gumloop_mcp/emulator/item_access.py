"""Who can open a session, artifact or skill (the SDK's get_access / update_access on each), and artifact
link passwords.

Each item starts private to its creator (an owner grant nobody can change) with its link off. A change
``{share, remove, link}`` adds or updates grants ({type: person, email, role}, {type: team, team_id,
role}, {type: organization, role}), removes them, and sets the link mode (none, anyone, password; password
only for artifacts). ``grants_visibility`` summarises the widest grant: private, shared, organization or
link. A password is kept only as a salted hash and never answered.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from gumloop_mcp.emulator.errors import bad_request
from gumloop_mcp.emulator.store import Store

ROLES = {"viewer", "editor"}
KINDS = {"session", "artifact", "skill"}
LINK_MODES = {"none", "anyone", "password"}
OWNER_EMAIL = "ada@example.com"


def record(store: Store, kind: str, item_id: str) -> dict[str, Any]:
    """The item's access record, created private on first use."""
    return store.item_access.setdefault(
        (kind, item_id),
        {
            "people": {OWNER_EMAIL: "owner"},
            "teams": {},
            "organization": None,
            "link": "none",
            "link_role": None,
        },
    )


def view(store: Store, kind: str, item_id: str, base_url: str) -> dict[str, Any]:
    """The ItemAccess object Gumloop answers."""
    r = record(store, kind, item_id)
    if r["link"] != "none":
        visibility = "link"
    elif r["organization"]:
        visibility = "organization"
    elif len(r["people"]) > 1 or r["teams"]:
        visibility = "shared"
    else:
        visibility = "private"
    return {
        "grants_visibility": visibility,
        "people": [
            {"email": email, "name": "Ada Lovelace" if email == OWNER_EMAIL else None, "role": role}
            for email, role in r["people"].items()
        ],
        "teams": [{"team_id": tid, "role": role} for tid, role in r["teams"].items()],
        "organization_access": {"role": r["organization"]} if r["organization"] else None,
        "link": f"{base_url}/share/{kind}s/{item_id}",
        "link_role": r["link_role"] if r["link"] != "none" else None,
        "password_protected": r["link"] == "password",
        "hidden_by_role": None,
    }


def _role(entry: dict[str, Any], where: str) -> str:
    role = entry.get("role")
    if role not in ROLES:
        raise bad_request(f"{where}.role must be one of {sorted(ROLES)}", param=where, code="invalid_role")
    return str(role)


def _target(entry: Any, where: str) -> tuple[str, str]:
    """(type, key) of a grant: the email, the team id, or "" for the organization; 400 when malformed."""
    if not isinstance(entry, dict):
        raise bad_request(f"{where} must be an object", param=where)
    kind = entry.get("type")
    if kind == "person":
        email = entry.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise bad_request(f"{where}.email must be an email address", param=where)
        return kind, email.lower()
    if kind == "team":
        team_id = entry.get("team_id")
        if not isinstance(team_id, str) or not team_id:
            raise bad_request(f"{where}.team_id is required", param=where)
        return kind, team_id
    if kind == "organization":
        return kind, ""
    raise bad_request(f"{where}.type must be person, team or organization", param=where)


def change(store: Store, kind: str, item_id: str, body: dict[str, Any]) -> list[str]:
    """Apply ``{share, remove, link}`` (checked whole before anything changes); the emails newly shared
    with (Gumloop notifies them)."""
    r = record(store, kind, item_id)
    share, remove, link = body.get("share"), body.get("remove"), body.get("link")
    if share is None and remove is None and link is None:
        raise bad_request("nothing to change: give share, remove or link")
    grants = [
        (_target(e, f"share[{i}]"), _role(e, f"share[{i}]")) for i, e in enumerate(_list(share, "share"))
    ]
    removals = [_target(e, f"remove[{i}]") for i, e in enumerate(_list(remove, "remove"))]
    for (target_kind, key), _ in grants:
        if target_kind == "person" and r["people"].get(key) == "owner":
            raise bad_request("the owner's access cannot be changed", param="share")
    for target_kind, key in removals:
        if target_kind == "person" and r["people"].get(key) == "owner":
            raise bad_request("the owner's access cannot be removed", param="remove")
    mode, link_role = _link(kind, link)
    notified = []
    for (target_kind, key), role in grants:
        if target_kind == "person":
            if key not in r["people"]:
                notified.append(key)
            r["people"][key] = role
        elif target_kind == "team":
            r["teams"][key] = role
        else:
            r["organization"] = role
    for target_kind, key in removals:
        if target_kind == "person":
            r["people"].pop(key, None)
        elif target_kind == "team":
            r["teams"].pop(key, None)
        else:
            r["organization"] = None
    if mode is not None:
        r["link"], r["link_role"] = mode, (link_role or "viewer") if mode != "none" else None
    return notified


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"{name} must be a list", param=name)
    return value


def _link(kind: str, link: Any) -> tuple[str | None, str | None]:
    if link is None:
        return None, None
    if not isinstance(link, dict) or link.get("mode") not in LINK_MODES:
        raise bad_request("link.mode must be none, anyone or password", param="link")
    mode = str(link["mode"])
    if mode == "password" and kind != "artifact":
        raise bad_request("password links are only for artifacts", param="link")
    role = link.get("role")
    if role is not None and role not in ROLES:
        raise bad_request(f"link.role must be one of {sorted(ROLES)}", param="link", code="invalid_role")
    return mode, role


def set_password(store: Store, artifact_id: str, password: Any) -> None:
    """Keep a salted hash of an artifact's link password; 400 for an empty or non-string one."""
    if not isinstance(password, str) or not password:
        raise bad_request("password must be a non-empty string", param="password")
    if len(password) > 256:
        raise bad_request("password must be at most 256 characters", param="password")
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000)
    record(store, "artifact", artifact_id)["_password"] = (salt, digest)
