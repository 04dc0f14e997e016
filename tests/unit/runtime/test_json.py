"""The request path's JSON codec: orjson's speed, the standard library's answers."""

from __future__ import annotations

import json
import math

import pytest

from gumloop_mcp.runtime import json_dumpb, json_dumps, json_loads


def test_it_reads_what_json_reads_from_text_or_bytes() -> None:
    document = '{"a": [1, 2.5, true, null, "é"], "b": {"c": "\\u00e9"}}'
    assert json_loads(document) == json.loads(document)
    assert json_loads(document.encode()) == json.loads(document)
    assert json_loads(bytearray(b"[]")) == []


def test_integers_beyond_64_bits_keep_every_digit() -> None:
    big = 123456789012345678901234567890
    assert json_loads(f'{{"id": {big}}}') == {"id": big}
    assert json_dumps({"id": big}) == f'{{"id":{big}}}'


def test_what_only_the_standard_library_accepts_is_still_read() -> None:
    value = json_loads('{"a": NaN, "b": -Infinity}')
    assert math.isnan(value["a"]) and value["b"] == -math.inf
    assert json_loads('"\\ud800"') == "\ud800"
    assert json_loads('"\ud800"') == "\ud800"  # a lone surrogate in the text itself


def test_invalid_json_raises_the_standard_librarys_error() -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        json_loads('{"a": ')
    assert (caught.value.lineno, caught.value.colno) == (1, 7)
    with pytest.raises(UnicodeDecodeError):
        json_loads(b'"\xff"')


def test_it_writes_compact_utf8_with_sorted_keys_on_request() -> None:
    assert json_dumps({"b": 1, "a": "é"}) == '{"b":1,"a":"é"}'
    assert json_dumps({"b": 1, "a": 2}, sort_keys=True) == '{"a":2,"b":1}'
    assert json_dumpb([1, "x"]) == b'[1,"x"]'
    assert json_dumps({1: "one", None: "none"}) == json.dumps({1: "one", None: "none"}, separators=(",", ":"))


def test_unknown_values_go_through_default_or_raise_type_error() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    assert json_dumps({"v": Opaque()}, default=str) == '{"v":"opaque"}'
    with pytest.raises(TypeError):
        json_dumps({"v": Opaque()})
