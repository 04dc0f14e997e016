"""Normalizing upstream rate-limit headers into one shape, and rendering it for gRPC.

Accepted inputs (header names case-insensitive): `X-RateLimit-Limit/Remaining/Reset` (reset as delta
seconds or as epoch seconds), `RateLimit-Limit/Remaining/Reset`, the IETF httpapi draft structured
fields `RateLimit: "default";r=0;t=30` and `RateLimit-Policy: "default";q=100;w=60`, and
`Retry-After` as delta seconds or an HTTP-date.

Numbers are non-negative decimal integers (RFC 9110 delta-seconds: digits only): anything else
(`1.5`, `-1`, `1e999`, `inf`) is unknown, and values past MAX_VALUE (2^53 - 1, exact in int64,
doubles and JSON) are clamped to it, so no header can break the answer it rides on.

Gumloop documents no rate-limit headers, so a 429 may come with none: `default_retry_after`
gives it a conservative retry-after (GMCP_PROXY_RATE_LIMITED_DEFAULT_RETRY_AFTER_S) marked as
the proxy's default (`retry_after_is_default`, trailer `retry-after-source: default`), with the
limit, remaining and reset left unknown rather than made up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

__all__ = ["MAX_VALUE", "RateLimitInfo", "default_retry_after", "parse_rate_limit"]

# The largest count or number of seconds passed on: beyond it a value is clamped.
MAX_VALUE = 2**53 - 1

# A reset value above this many seconds cannot be a delta (a year); it is an epoch timestamp.
_EPOCH_THRESHOLD_S = 365 * 86_400
_PARAM = re.compile(r'^\s*([a-z][a-z0-9_.*-]*)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,\s]+))?\s*$', re.I)
_POLICY_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class RateLimitInfo:
    """Rate-limit facts normalized to seconds and counts; None when upstream did not say."""

    limit: int | None
    remaining: int | None
    reset_seconds: int | None
    retry_after_seconds: int | None
    policy: str | None
    # True when upstream said nothing of when to retry and retry_after_seconds is the proxy's default.
    retry_after_is_default: bool = False

    def _policy_name(self) -> str:
        name = self.policy or "default"
        return name if _POLICY_NAME.match(name) else "default"

    def ratelimit_field(self) -> str:
        """The IETF draft `RateLimit` field from the normalized values ("" when nothing to say)."""
        params = []
        if self.remaining is not None:
            params.append(f"r={self.remaining}")
        if self.reset_seconds is not None:
            params.append(f"t={self.reset_seconds}")
        if not params:
            return ""
        return ";".join([f'"{self._policy_name()}"', *params])

    def ratelimit_policy_field(self) -> str:
        """The IETF draft `RateLimit-Policy` field (needs the quota; "" without one)."""
        if self.limit is None:
            return ""
        return f'"{self._policy_name()}";q={self.limit}'

    def to_proto(self) -> pb.RateLimit:
        """The gRPC message; unknown numbers are -1."""
        return pb.RateLimit(
            limit=-1 if self.limit is None else self.limit,
            remaining=-1 if self.remaining is None else self.remaining,
            reset_seconds=-1 if self.reset_seconds is None else self.reset_seconds,
            retry_after_seconds=-1 if self.retry_after_seconds is None else self.retry_after_seconds,
            ratelimit=self.ratelimit_field(),
            ratelimit_policy=self.ratelimit_policy_field(),
        )

    def to_trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC trailing metadata with only the known values; retry-after falls back to the reset."""
        pairs: list[tuple[str, str]] = []
        if self.limit is not None:
            pairs.append(("ratelimit-limit", str(self.limit)))
        if self.remaining is not None:
            pairs.append(("ratelimit-remaining", str(self.remaining)))
        if self.reset_seconds is not None:
            pairs.append(("ratelimit-reset", str(self.reset_seconds)))
        retry = self.retry_after_seconds if self.retry_after_seconds is not None else self.reset_seconds
        if retry is not None:
            pairs.append(("retry-after", str(retry)))
        if field := self.ratelimit_field():
            pairs.append(("ratelimit", field))
        if policy := self.ratelimit_policy_field():
            pairs.append(("ratelimit-policy", policy))
        if self.retry_after_is_default:
            pairs.append(("retry-after-source", "default"))
        return tuple(pairs)


def default_retry_after(info: RateLimitInfo | None, seconds: int) -> RateLimitInfo | None:
    """`info` for a 429, with `seconds` as a retry-after marked as the default when upstream gave
    neither a retry-after nor a reset (seconds <= 0: no default)."""
    if seconds <= 0:
        return info
    if info is None:
        return RateLimitInfo(None, None, None, min(seconds, MAX_VALUE), None, retry_after_is_default=True)
    if info.retry_after_seconds is not None or info.reset_seconds is not None:
        return info
    return replace(info, retry_after_seconds=min(seconds, MAX_VALUE), retry_after_is_default=True)


def _int(value: str | None) -> int | None:
    """A non-negative decimal integer (first list member), clamped to MAX_VALUE; else None."""
    if value is None:
        return None
    text = value.strip().split(",")[0].strip()
    if not _DIGITS.match(text):
        return None  # a fraction, sign, exponent, inf or nan: not a count of requests or seconds
    digits = text.lstrip("0") or "0"  # int() refuses more than 4300 digits, leading zeros included
    if len(digits) > len(str(MAX_VALUE)):
        return MAX_VALUE
    return min(int(digits), MAX_VALUE)


def _reset_delta(value: int | None, now: float) -> int | None:
    if value is None:
        return None
    if value > _EPOCH_THRESHOLD_S:
        return min(MAX_VALUE, max(0, int(round(value - now))))
    return value


def _retry_after(value: str | None, now: float) -> int | None:
    if value is None:
        return None
    seconds = _int(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return min(MAX_VALUE, max(0, int(round(when.timestamp() - now))))


def _structured(value: str) -> tuple[str | None, dict[str, str]]:
    """First list member of a structured field: its (unquoted) name and its parameters."""
    member = value.split(",")[0]
    parts = member.split(";")
    head = parts[0].strip()
    name = head[1:-1] if len(head) >= 2 and head[0] == head[-1] == '"' else (head or None)
    params: dict[str, str] = {}
    for part in parts[1:]:
        match = _PARAM.match(part)
        if match:
            params[match.group(1).lower()] = (match.group(2) or "").strip('"')
    return name, params


def parse_rate_limit(headers: Mapping[str, str], now: float) -> RateLimitInfo | None:
    """Normalize whatever rate-limit headers upstream sent; None when it sent none we understand."""
    h = {k.lower(): v for k, v in headers.items()}
    limit = _int(h.get("ratelimit-limit")) if "ratelimit-limit" in h else _int(h.get("x-ratelimit-limit"))
    remaining = _int(h.get("ratelimit-remaining", h.get("x-ratelimit-remaining")))
    reset = _reset_delta(_int(h.get("ratelimit-reset", h.get("x-ratelimit-reset"))), now)
    policy: str | None = None
    if "ratelimit-policy" in h:
        name, params = _structured(h["ratelimit-policy"])
        if name is not None and name.isdigit():
            # The pre-2023 draft syntax `RateLimit-Policy: 100;w=60` leads with the quota itself.
            params = {**params, "q": name}
            name = None
        policy = name
        if limit is None:
            limit = _int(params.get("q"))
    if "ratelimit" in h:
        name, params = _structured(h["ratelimit"])
        policy = policy or name
        if remaining is None:
            remaining = _int(params.get("r"))
        if reset is None:
            reset = _reset_delta(_int(params.get("t")), now)
    retry_after = _retry_after(h.get("retry-after"), now)
    if limit is None and remaining is None and reset is None and retry_after is None:
        return None
    return RateLimitInfo(limit, remaining, reset, retry_after, policy)
