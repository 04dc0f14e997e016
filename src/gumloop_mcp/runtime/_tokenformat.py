"""The shape of our secrets: a recognisable prefix, 256 bits of entropy, a checksum.

    gmcp_<43 base62 chars>_<6 base62 chars>      MCP URL token
    gmcpat_<43 base62 chars>_<6 base62 chars>    API token

The checksum is CRC-32 of the prefix and body, so a mistyped token is rejected
without a store lookup and secret scanners can match the pattern with few false
positives (the scheme GitHub uses for its tokens). Only `hash_token()` output is
ever stored; `tokens_equal()` compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from enum import StrEnum
from typing import Final

__all__ = ["TokenKind", "generate_token", "hash_token", "is_well_formed", "token_prefix", "tokens_equal"]

_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# 43 base62 characters carry log2(62) * 43 = 256.03 bits.
_BODY_LEN: Final = 43
_CHECKSUM_LEN: Final = 6
# Characters of a token that may be shown (e.g. "gmcp_Ab3d") to tell tokens apart.
_VISIBLE_CHARS: Final = 4


class TokenKind(StrEnum):
    """Which secret a token is; the value is its prefix."""

    MCP_URL = "gmcp"
    API = "gmcpat"


# Matched with fullmatch: "$" would also accept a trailing newline ("token\n").
_SHAPE: Final = re.compile(r"(gmcp|gmcpat)_([0-9A-Za-z]{43})_([0-9A-Za-z]{6})")


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _checksum(prefix: str, body: str) -> str:
    return _base62(zlib.crc32(f"{prefix}_{body}".encode()), _CHECKSUM_LEN)


def generate_token(kind: TokenKind) -> str:
    """Return a new random token of `kind`."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LEN))
    return f"{kind.value}_{body}_{_checksum(kind.value, body)}"


def is_well_formed(token: str, kind: TokenKind | None = None) -> bool:
    """True when `token` has the right shape and checksum (and kind, when given)."""
    match = _SHAPE.fullmatch(token)
    if match is None:
        return False
    prefix, body, checksum = match.groups()
    if kind is not None and prefix != kind.value:
        return False
    return hmac.compare_digest(checksum, _checksum(prefix, body))


def hash_token(token: str, pepper: bytes) -> str:
    """Keyed hash (HMAC-SHA256 with the server-side pepper) of a token, as hex."""
    return hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two token hashes (or tokens)."""
    return hmac.compare_digest(a.encode(), b.encode())


def token_prefix(token: str) -> str:
    """The non-secret beginning of a token, e.g. "gmcp_Ab3d"."""
    kind, _, body = token.partition("_")
    return f"{kind}_{body[:_VISIBLE_CHARS]}"
