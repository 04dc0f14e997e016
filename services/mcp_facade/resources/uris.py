"""The `gumloop://` URIs this server serves, one kind per resource template.

    gumloop://artifacts/{artifact_id}   a file an agent produced (read: get_artifact, decoded)
    gumloop://skills/{skill_id}         a deployed skill package, decoded (read: get_skill_download)
    gumloop://sessions/{session_id}     an agent session with its messages and state (get_session)
    gumloop://runs/{run_id}             an automation run with its state and log (get_pl_run)

Sessions and runs change while Gumloop works on them: they are the subscribable kinds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote

__all__ = ["KINDS", "SCHEME", "Kind", "Parsed", "parse", "uri_of"]

SCHEME: Final = "gumloop://"
# The ids Gumloop's path parameters accept (catalog schema of artifact_id, skill_id, session_id).
_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")


@dataclass(frozen=True, slots=True)
class Kind:
    """One resource template: its URI segment, the operation that reads it, and how it is shown."""

    segment: str
    parameter: str
    read_operation: str
    name: str
    title: str
    description: str
    mime_type: str
    subscribable: bool = False

    @property
    def template(self) -> str:
        return f"{SCHEME}{self.segment}/{{{self.parameter}}}"


KINDS: Final = (
    Kind(
        "artifacts",
        "artifact_id",
        "get_artifact",
        "artifact",
        "Gumloop artifact",
        "A file an agent produced, decoded: text, CSV, office files and PDFs as Markdown, images inline, "
        "other files as metadata with a short-lived download link.",
        "text/markdown",
    ),
    Kind(
        "skills",
        "skill_id",
        "get_skill_download",
        "skill",
        "Gumloop skill",
        "A deployed skill's current package, decoded: its file list, then SKILL.md and its other text "
        "files as Markdown.",
        "text/markdown",
    ),
    Kind(
        "sessions",
        "session_id",
        "get_session",
        "session",
        "Gumloop agent session",
        "An agent session with its messages and state; subscribe to hear when it changes.",
        "application/json",
        subscribable=True,
    ),
    Kind(
        "runs",
        "run_id",
        "get_pl_run",
        "run",
        "Gumloop automation run",
        "An automation run with its state, outputs and log lines; subscribe to hear when it changes.",
        "application/json",
        subscribable=True,
    ),
)
_BY_SEGMENT: Final = {kind.segment: kind for kind in KINDS}


@dataclass(frozen=True, slots=True)
class Parsed:
    kind: Kind
    ident: str


def uri_of(kind: Kind, ident: str) -> str:
    """The URI of one item (the id percent-encoded, though Gumloop ids never need it)."""
    return f"{SCHEME}{kind.segment}/{quote(ident, safe='')}"


def parse(uri: str) -> Parsed | None:
    """The kind and id a URI names; None for anything else (another scheme, kind, or a malformed id)."""
    if not uri.startswith(SCHEME):
        return None
    segment, slash, rest = uri[len(SCHEME) :].partition("/")
    kind = _BY_SEGMENT.get(segment)
    if kind is None or not slash:
        return None
    ident = unquote(rest)
    if not _ID.match(ident):
        return None
    return Parsed(kind, ident)
