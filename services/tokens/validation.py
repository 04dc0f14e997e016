"""Input rules for the token service: names, expiries, scopes, page sizes and page tokens.

Each check returns field violations (`errors.Violation`) instead of raising, so one request reports
every bad field at once. Field paths follow the request messages, e.g. "mcp_server.config.methods[2]".
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Sequence
from typing import Any, Final

from google.protobuf import duration_pb2, timestamp_pb2

from gumloop_mcp.scope import (
    MAX_CONTEXT_BUDGET_TOKENS,
    METHOD_GROUPS,
    MIN_CONTEXT_BUDGET_TOKENS,
    TOOL_EXPOSURES,
    OperationRef,
    matching_operations,
    unknown_methods,
    unknown_tags,
)

from .errors import InvalidArgument, Violation
from .store import Cursor

__all__ = [
    "MAX_NAME_CHARS",
    "check_expiry",
    "check_grace",
    "check_name",
    "check_second_factor",
    "check_page_size",
    "check_scope_shape",
    "check_scope_against_catalog",
    "normalize_consent",
    "decode_page_token",
    "encode_page_token",
    "normalize_list",
    "unique",
]

MAX_NAME_CHARS: Final = 128
MAX_ID_CHARS: Final = 128
MAX_SCOPE_ENTRIES: Final = 200
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 100
# McpServerConfig's allowed consenters (oauth_allowed_*): shape only; the façade compares them.
CONSENT_FIELDS: Final = ("oauth_allowed_emails", "oauth_allowed_domains", "oauth_allowed_groups")
_MAX_CONSENT_CHARS: Final = 254
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DOMAIN: Final = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
# Timestamp's own valid range: 0001-01-01 to 9999-12-31.
_MIN_SECONDS: Final = -62_135_596_800
_MAX_SECONDS: Final = 253_402_300_799


def check_name(field: str, name: str) -> list[Violation]:
    """A name is 1-128 characters, not blank, without control characters."""
    if not name.strip():
        return [(field, "is required and must not be blank")]
    if len(name) > MAX_NAME_CHARS:
        return [(field, f"must be at most {MAX_NAME_CHARS} characters (got {len(name)})")]
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return [(field, "must not contain control characters")]
    return []


def check_id(field: str, value: str) -> list[Violation]:
    """An identifier (record id, account id) is required and at most 128 characters."""
    if not value.strip():
        return [(field, "is required")]
    if len(value) > MAX_ID_CHARS:
        return [(field, f"must be at most {MAX_ID_CHARS} characters")]
    return []


def check_expiry(
    field: str, timestamp: timestamp_pb2.Timestamp | None, now: float, min_lead_s: float
) -> tuple[float | None, list[Violation]]:
    """The expiry as epoch seconds (None: never), or why it is unacceptable."""
    if timestamp is None:
        return None, []
    if not (_MIN_SECONDS <= timestamp.seconds <= _MAX_SECONDS) or not (0 <= timestamp.nanos < 1_000_000_000):
        return None, [(field, "is malformed (seconds or nanos out of range)")]
    value = timestamp.seconds + timestamp.nanos / 1e9
    if value <= now:
        return None, [(field, f"lies in the past; it must lie at least {min_lead_s:g} s ahead")]
    if value < now + min_lead_s:
        return None, [
            (field, f"must lie at least {min_lead_s:g} s ahead (it lies {value - now:.0f} s ahead)")
        ]
    return value, []


def check_grace(
    field: str, duration: duration_pb2.Duration | None, max_s: float
) -> tuple[float, list[Violation]]:
    """A rotation grace period in seconds (0 when unset), within 0..max_s."""
    if duration is None:
        return 0.0, []
    if not (-1_000_000_000 < duration.nanos < 1_000_000_000) or (duration.seconds * duration.nanos < 0):
        return 0.0, [(field, "is malformed")]
    value = duration.seconds + duration.nanos / 1e9
    if value < 0:
        return 0.0, [(field, "must not be negative")]
    if value > max_s:
        return 0.0, [(field, f"must be at most {max_s:g} s")]
    return value, []


def normalize_list(values: Sequence[str]) -> list[str]:
    """Entries stripped of surrounding whitespace; positions kept so violations name the request's index."""
    return [value.strip() for value in values]


def unique(values: Sequence[str]) -> tuple[str, ...]:
    """Entries without repeats, first occurrence first: what gets stored once validation passed."""
    return tuple(dict.fromkeys(values))


def check_scope_shape(field: str, methods: Sequence[str], tags: Sequence[str]) -> list[Violation]:
    """Scope entries must be non-blank, short, and not too many."""
    violations: list[Violation] = []
    for part, values in (("methods", methods), ("tags", tags)):
        if len(values) > MAX_SCOPE_ENTRIES:
            violations.append((f"{field}.{part}", f"must have at most {MAX_SCOPE_ENTRIES} entries"))
            continue
        for index, value in enumerate(values):
            if not value:
                violations.append((f"{field}.{part}[{index}]", "must not be blank"))
            elif len(value) > MAX_NAME_CHARS:
                violations.append(
                    (f"{field}.{part}[{index}]", f"must be at most {MAX_NAME_CHARS} characters")
                )
    return violations


def normalize_consent(config: Any) -> tuple[dict[str, tuple[str, ...]], list[Violation]]:
    """The allowed emails, domains and groups of an OAuth server's config (emails and domains
    lowercased, repeats dropped), or why they are unacceptable."""
    out: dict[str, tuple[str, ...]] = {}
    violations: list[Violation] = []
    for part in CONSENT_FIELDS:
        field = f"mcp_server.config.{part}"
        values = [value.strip() for value in getattr(config, part)]
        if part != "oauth_allowed_groups":
            values = [value.lower() for value in values]
        out[part] = unique(values)
        if len(values) > MAX_SCOPE_ENTRIES:
            violations.append((field, f"must have at most {MAX_SCOPE_ENTRIES} entries"))
            continue
        for index, value in enumerate(values):
            if not value or len(value) > _MAX_CONSENT_CHARS:
                violations.append((f"{field}[{index}]", f"must be 1-{_MAX_CONSENT_CHARS} characters"))
            elif part == "oauth_allowed_emails" and not _EMAIL.fullmatch(value):
                violations.append((f"{field}[{index}]", "must be an email address (name@domain)"))
            elif part == "oauth_allowed_domains" and not _DOMAIN.fullmatch(value):
                violations.append((f"{field}[{index}]", "must be a domain name (example.com), without @"))
    return out, violations


def check_exposure(field: str, tool_exposure: str, context_budget_tokens: int) -> list[Violation]:
    """tool_exposure is empty (the façade's default) or one of TOOL_EXPOSURES; the budget is 0
    (the default) or within MIN..MAX_CONTEXT_BUDGET_TOKENS."""
    violations: list[Violation] = []
    if tool_exposure and tool_exposure not in TOOL_EXPOSURES:
        choices = ", ".join(TOOL_EXPOSURES)
        violations.append((f"{field}.tool_exposure", f"must be one of {choices} (or empty for the default)"))
    if context_budget_tokens and not (
        MIN_CONTEXT_BUDGET_TOKENS <= context_budget_tokens <= MAX_CONTEXT_BUDGET_TOKENS
    ):
        violations.append(
            (
                f"{field}.context_budget_tokens",
                f"must be 0 (the default) or between {MIN_CONTEXT_BUDGET_TOKENS} "
                f"and {MAX_CONTEXT_BUDGET_TOKENS}",
            )
        )
    return violations


def check_scope_against_catalog(
    field: str, methods: Sequence[str], tags: Sequence[str], operations: Sequence[OperationRef]
) -> list[Violation]:
    """Unknown method names and tags, or a scope that admits no operation at all."""
    bad_methods = set(unknown_methods(methods, operations))
    bad_tags = set(unknown_tags(tags, operations))
    # The valid values come first and once (a long refusal is cut after its first entries):
    # a caller learns them from the first refusal.
    violations: list[Violation] = []
    if bad_methods:
        names = ", ".join(sorted(op.name for op in operations))
        groups = ", ".join(METHOD_GROUPS)
        violations.append((f"{field}.methods", f"use a group ({groups}) or an operation name ({names})"))
    if bad_tags:
        known_tags = ", ".join(sorted({t for op in operations for t in op.tags}))
        violations.append((f"{field}.tags", f"the tags are: {known_tags}"))
    violations += [
        (f"{field}.methods[{index}]", f"unknown method {name!r}")
        for index, name in enumerate(methods)
        if name in bad_methods
    ]
    violations += [
        (f"{field}.tags[{index}]", f"no operation carries the tag {tag!r}")
        for index, tag in enumerate(tags)
        if tag in bad_tags
    ]
    if not violations and not matching_operations(operations, methods, tags):
        violations.append((field, "this scope matches no operation in the catalog; widen methods or tags"))
    return violations


def check_page_size(field: str, page_size: int) -> tuple[int, list[Violation]]:
    """0 means the default (50); above 100 is capped; negative is refused."""
    if page_size < 0:
        return DEFAULT_PAGE_SIZE, [(field, "must not be negative")]
    if page_size == 0:
        return DEFAULT_PAGE_SIZE, []
    return min(page_size, MAX_PAGE_SIZE), []


def encode_page_token(kind: str, scope: str, cursor: Cursor | None) -> str:
    """An opaque token for the page after `cursor`, bound to the listing it came from."""
    if cursor is None:
        return ""
    raw = json.dumps({"k": kind, "s": scope, "t": cursor[0], "i": cursor[1]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(field: str, kind: str, scope: str, token: str) -> Cursor | None:
    """The cursor inside a page token; InvalidArgument when it is foreign or damaged."""
    if not token:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if raw["k"] != kind or raw["s"] != scope:
            raise InvalidArgument([(field, "belongs to a different listing; start again without it")])
        position = float(raw["t"])
        if not math.isfinite(position):  # NaN / Infinity: never issued, and NaN breaks every comparison
            raise ValueError("non-finite page position")
        return position, str(raw["i"])
    except (ValueError, KeyError, TypeError, OverflowError, binascii.Error, RecursionError) as exc:
        # OverflowError: a huge JSON integer as "t" (float() of 400 digits)
        raise InvalidArgument([(field, "is not a page token returned by this listing")]) from exc


def check_second_factor(field: str, require_api_token_auth: bool, require_oauth: bool) -> list[Violation]:
    """A server has one second factor at most: an API token or OAuth, not both."""
    if require_api_token_auth and require_oauth:
        return [
            (
                f"{field}.require_oauth",
                "must be false when require_api_token_auth is true (one second factor)",
            )
        ]
    return []
