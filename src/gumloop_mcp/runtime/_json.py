"""The JSON codec of the request path (façade and proxy): orjson, with the standard library's answers.

orjson parses and writes several times faster than `json`; where the two would disagree, the
standard library decides, so callers see exactly what `json` gives them:

- `loads`: a document orjson refuses (NaN or Infinity literals, lone surrogates) is handed to
  `json.loads`, which accepts it or raises its own `json.JSONDecodeError` (a ValueError) as before;
  a document with an integer of 20 or more digits too, since orjson turns integers beyond 64 bits
  into floats and would lose digits.
- `dumps`/`dumpb`: compact (`,` and `:`), UTF-8 (no `\\u` escapes for non-ASCII); integers beyond 64
  bits, and other values orjson cannot write, go to `json.dumps` with the same layout. Non-string
  keys become strings as `json` makes them; NaN and infinities are written as `null` (valid JSON,
  where `json` would write the invalid `NaN`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

import orjson

__all__ = ["dumpb", "dumps", "loads"]

_LONG_INTEGER: Final = re.compile(r"\d{20}")
_LONG_INTEGER_BYTES: Final = re.compile(rb"\d{20}")
_OPTIONS: Final = orjson.OPT_NON_STR_KEYS


def loads(data: str | bytes | bytearray | memoryview) -> Any:
    """The value of one JSON document (str or UTF-8 bytes)."""
    if isinstance(data, str):
        long_integer = _LONG_INTEGER.search(data) is not None
    else:
        data = bytes(data)
        long_integer = _LONG_INTEGER_BYTES.search(data) is not None
    if long_integer:
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumpb(value: Any, *, sort_keys: bool = False, default: Callable[[Any], Any] | None = None) -> bytes:
    """`value` as compact UTF-8 JSON bytes."""
    try:
        return orjson.dumps(
            value, default=default, option=_OPTIONS | (orjson.OPT_SORT_KEYS if sort_keys else 0)
        )
    except TypeError:
        text = json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys, default=default
        )
        return text.encode()


def dumps(value: Any, *, sort_keys: bool = False, default: Callable[[Any], Any] | None = None) -> str:
    """`value` as compact JSON text (non-ASCII characters as they are)."""
    return dumpb(value, sort_keys=sort_keys, default=default).decode()
