"""Human-readable output: aligned tables of records and `key: value` cards of one record.

Columns take a header and a function of the record; values are shortened to one line. Times
are shown in UTC to the minute; missing values as `-`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "ACCOUNT_COLUMNS",
    "API_TOKEN_COLUMNS",
    "GRANT_COLUMNS",
    "OPERATION_COLUMNS",
    "SERVER_COLUMNS",
    "Column",
    "card",
    "catalog_text",
    "table",
    "when",
]

Column = tuple[str, Callable[[dict[str, Any]], str]]
_MAX_CELL: Final = 60


def when(value: Any) -> str:
    """An ISO 8601 time as `YYYY-MM-DD HH:MMZ` (UTC); `-` for none."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def _words(value: Any, empty: str = "-") -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or empty
    return str(value) if value not in (None, "") else empty


def _allowed(server: dict[str, Any]) -> str:
    """Who may sign in to an OAuth server: emails, @domains and group:names ("nobody" when none)."""
    config = server.get("config") or {}
    people = [
        *config.get("oauth_allowed_emails", []),
        *(f"@{d}" for d in config.get("oauth_allowed_domains", [])),
        *(f"group:{g}" for g in config.get("oauth_allowed_groups", [])),
    ]
    return ",".join(people) or "nobody"


def _cell(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], empty: str = "(none)") -> str:
    """Rows under headers, columns padded to their widest cell."""
    if not rows:
        return empty
    cells = [[header for header, _ in columns]] + [[_cell(get(row)) for _, get in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    )


def card(record: dict[str, Any], columns: Sequence[Column]) -> str:
    """One record as `HEADER  value` lines."""
    width = max(len(header) for header, _ in columns)
    return "\n".join(f"{header.ljust(width)}  {get(record)}" for header, get in columns)


GRANT_COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", lambda g: str(g["id"])),
    ("SUBJECT", lambda g: str(g["subject"])),
    ("CLIENT", lambda g: str(g["client_name"] or g["client_id"])),
    ("CONNECTED", lambda g: when(g.get("created_at"))),
    ("LAST USED", lambda g: when(g.get("last_used_at"))),
    ("EXPIRES", lambda g: when(g.get("expires_at"))),
)
SERVER_COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", lambda s: str(s["id"])),
    ("NAME", lambda s: str(s["name"])),
    ("ACCOUNT", lambda s: str(s["account_id"])),
    ("METHODS", lambda s: _words(s["config"]["methods"], "all")),
    ("TAGS", lambda s: _words(s["config"]["tags"], "any")),
    (
        "SIGN-IN",
        lambda s: "api token" if s["require_api_token_auth"] else "oauth" if s.get("require_oauth") else "-",
    ),
    ("ALLOWED", lambda s: _allowed(s) if s.get("require_oauth") else "-"),
    ("TOKEN", lambda s: f"{s['token_prefix']}…" if s.get("token_prefix") else "-"),
    ("EXPIRES", lambda s: when(s.get("expires_at"))),
    ("LAST USED", lambda s: when(s.get("last_used_at"))),
)

ACCOUNT_COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", lambda a: str(a["id"])),
    ("NAME", lambda a: str(a["display_name"])),
    ("CREDENTIAL", lambda a: str(a["credential_kind"])),
    ("USER", lambda a: _words(a.get("user_id"))),
    ("TEAM", lambda a: _words(a.get("team_id"))),
    ("API BASE URL", lambda a: _words(a.get("api_base_url"), "(default)")),
    ("CREATED", lambda a: when(a.get("created_at"))),
)

API_TOKEN_COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", lambda t: str(t["id"])),
    ("NAME", lambda t: str(t["name"])),
    ("PURPOSE", lambda t: _words(t["purpose"])),
    ("ACCOUNT", lambda t: _words(t.get("account_id"), "(any)")),
    ("TOKEN", lambda t: f"{t['token_prefix']}…" if t.get("token_prefix") else "-"),
    ("EXPIRES", lambda t: when(t.get("expires_at"))),
    ("LAST USED", lambda t: when(t.get("last_used_at"))),
)


def _first(record: dict[str, Any], *keys: str) -> Any:
    return next((record[k] for k in keys if record.get(k) not in (None, "")), None)


OPERATION_COLUMNS: Final[tuple[Column, ...]] = (
    ("OPERATION", lambda o: _words(o.get("name"))),
    ("TOOL", lambda o: _words(o.get("tool_name"))),
    ("KIND", lambda o: _words(o.get("kind"))),
    ("TAGS", lambda o: _words(o.get("tags"))),
)


def catalog_text(catalog: dict[str, Any]) -> str:
    """The operations table, then the tags and method groups a server can be scoped to."""
    groups = catalog.get("method_groups") or {}
    parts = [
        table(list(catalog.get("operations") or []), OPERATION_COLUMNS),
        "",
        f"Tags:          {_words(catalog.get('tags'))}",
        "Method groups: " + "; ".join(f"{name} ({_words(kinds)})" for name, kinds in sorted(groups.items())),
    ]
    return "\n".join(parts)
