"""Unit tests: rate-limit header normalization and its gRPC renderings."""

from __future__ import annotations

from email.utils import formatdate

from services.gumloop_proxy.ratelimit import MAX_VALUE, RateLimitInfo, default_retry_after, parse_rate_limit

NOW = 1_800_000_000.0


def test_no_rate_limit_headers_give_none():
    """Answers without rate-limit headers have no rate-limit info."""
    assert parse_rate_limit({"content-type": "application/json"}, NOW) is None
    assert parse_rate_limit({"X-RateLimit-Limit": "garbage"}, NOW) is None


def test_x_ratelimit_headers_with_delta_reset_are_read_case_insensitively():
    """X-RateLimit-* with a small reset is a delta in seconds."""
    info = parse_rate_limit(
        {"X-RATELIMIT-LIMIT": "100", "x-ratelimit-remaining": "0", "X-RateLimit-Reset": "30"}, NOW
    )
    assert info == RateLimitInfo(100, 0, 30, None, None)


def test_epoch_reset_becomes_seconds_from_now():
    """A reset that is an epoch timestamp is turned into seconds from now."""
    info = parse_rate_limit({"x-ratelimit-reset": str(int(NOW) + 42)}, NOW)
    assert info is not None and info.reset_seconds == 42


def test_past_epoch_reset_is_zero():
    """An epoch reset in the past means the window reset already."""
    info = parse_rate_limit({"ratelimit-reset": str(int(NOW) - 100)}, NOW)
    assert info is not None and info.reset_seconds == 0


def test_retry_after_as_seconds_and_as_http_date():
    """Retry-After is read as delta seconds or as an HTTP-date."""
    assert parse_rate_limit({"Retry-After": "17"}, NOW) == RateLimitInfo(None, None, None, 17, None)
    info = parse_rate_limit({"Retry-After": formatdate(NOW + 120, usegmt=True)}, NOW)
    assert info is not None and info.retry_after_seconds == 120
    assert parse_rate_limit({"Retry-After": "next tuesday"}, NOW) is None


def test_ietf_draft_structured_fields_are_parsed():
    """The IETF draft RateLimit and RateLimit-Policy fields give remaining, reset, quota and policy."""
    info = parse_rate_limit({"RateLimit": '"burst";r=3;t=12', "RateLimit-Policy": '"burst";q=100;w=60'}, NOW)
    assert info == RateLimitInfo(100, 3, 12, None, "burst")


def test_separate_fields_win_over_structured_ones_and_negative_values_are_ignored():
    """RateLimit-Limit is preferred; nonsense negative values are dropped."""
    info = parse_rate_limit(
        {"RateLimit-Limit": "10", "RateLimit-Policy": '"p";q=99', "RateLimit-Remaining": "-1"}, NOW
    )
    assert info is not None and info.limit == 10 and info.remaining is None


def test_proto_uses_minus_one_for_unknown_and_renders_ietf_fields():
    """The proto carries -1 for unknown values and the IETF draft fields built from normalized values."""
    message = RateLimitInfo(100, 0, 30, None, None).to_proto()
    assert (message.limit, message.remaining, message.reset_seconds, message.retry_after_seconds) == (
        100,
        0,
        30,
        -1,
    )
    assert message.ratelimit == '"default";r=0;t=30'
    assert message.ratelimit_policy == '"default";q=100'
    empty = RateLimitInfo(None, None, None, 5, None).to_proto()
    assert empty.limit == -1 and empty.ratelimit == "" and empty.ratelimit_policy == ""


def test_trailing_metadata_has_only_known_values_and_retry_after_falls_back_to_reset():
    """Trailing metadata lists known values; retry-after defaults to the reset."""
    pairs = dict(RateLimitInfo(100, 0, 30, None, "default").to_trailing_metadata())
    assert pairs == {
        "ratelimit-limit": "100",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "30",
        "retry-after": "30",
        "ratelimit": '"default";r=0;t=30',
        "ratelimit-policy": '"default";q=100',
    }
    assert RateLimitInfo(None, None, None, 9, None).to_trailing_metadata() == (("retry-after", "9"),)


def test_older_draft_policy_syntax_and_comma_lists_are_understood():
    """`RateLimit-Policy: 100;w=60` and `RateLimit-Limit: 10, 10;w=1` give the quota."""
    assert parse_rate_limit({"RateLimit-Policy": "100;w=60"}, NOW) == RateLimitInfo(
        100, None, None, None, None
    )
    info = parse_rate_limit({"RateLimit-Limit": "10, 10;w=1", "RateLimit-Remaining": "4"}, NOW)
    assert info == RateLimitInfo(10, 4, None, None, None)


def test_only_non_negative_integers_are_read_and_anything_else_is_unknown():
    """`1e999` and `inf` used to overflow int(float()); fractions, signs and exponents are not counts."""
    for value in ("1e999", "inf", "-inf", "nan", "1.5", "-3", "+3", "0x10", "3 s", ""):
        assert parse_rate_limit({"Retry-After": value}, NOW) is None, value
        assert parse_rate_limit({"X-RateLimit-Remaining": value}, NOW) is None, value
    assert parse_rate_limit({"Retry-After": " 007 "}, NOW) == RateLimitInfo(None, None, None, 7, None)


def test_values_past_the_ceiling_are_clamped_and_still_render_as_proto():
    """A count above int64 made protobuf raise in to_proto; it is clamped to MAX_VALUE now."""
    huge = "99999999999999999999"
    info = parse_rate_limit(
        {"X-RateLimit-Limit": huge, "X-RateLimit-Remaining": huge, "Retry-After": "9" * 5000}, NOW
    )
    assert info == RateLimitInfo(MAX_VALUE, MAX_VALUE, None, MAX_VALUE, None)
    message = info.to_proto()
    assert message.remaining == MAX_VALUE and message.retry_after_seconds == MAX_VALUE
    assert dict(info.to_trailing_metadata())["ratelimit-remaining"] == str(MAX_VALUE)
    # A reset read as an epoch far in the future, and the latest HTTP-date, stay in range too.
    far = parse_rate_limit({"RateLimit-Reset": huge, "Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, NOW)
    assert far is not None and far.reset_seconds is not None and far.retry_after_seconds is not None
    assert 0 < far.reset_seconds <= MAX_VALUE and 0 < far.retry_after_seconds <= MAX_VALUE
    far.to_proto()
    assert parse_rate_limit({"Retry-After": "Sat, 01 Jan 10000 00:00:00 GMT"}, NOW) is None


def test_a_429_without_a_retry_after_or_reset_gets_the_default_marked_as_such():
    """Only the retry-after is defaulted (limit/remaining stay unknown), and the trailers say so."""
    info = default_retry_after(None, 30)
    assert info == RateLimitInfo(None, None, None, 30, None, retry_after_is_default=True)
    assert info.to_trailing_metadata() == (("retry-after", "30"), ("retry-after-source", "default"))
    message = info.to_proto()
    assert (message.limit, message.remaining, message.reset_seconds, message.retry_after_seconds) == (
        -1,
        -1,
        -1,
        30,
    )
    # Remaining/limit known but no timing: the default fills only the retry-after.
    partial = default_retry_after(RateLimitInfo(100, 0, None, None, None), 30)
    assert partial == RateLimitInfo(100, 0, None, 30, None, retry_after_is_default=True)
    # Upstream's own retry-after or reset wins, and 0 turns the default off.
    told = RateLimitInfo(None, None, 12, None, None)
    assert default_retry_after(told, 30) is told
    assert default_retry_after(RateLimitInfo(None, None, None, 5, None), 30) == RateLimitInfo(
        None, None, None, 5, None
    )
    assert default_retry_after(None, 0) is None
    assert "retry-after-source" not in dict(told.to_trailing_metadata())


def test_zero_padded_values_longer_than_int_digit_limit_are_read():
    """5001 leading zeros passed the length check but int() of the unstripped text raised ValueError."""
    padded = "0" * 5001 + "7"
    info = parse_rate_limit({"X-RateLimit-Remaining": padded, "Retry-After": "0" * 5001}, NOW)
    assert info == RateLimitInfo(None, 7, None, 0, None)
    assert parse_rate_limit({"Retry-After": "0" * 5001 + "9" * 30}, NOW) == RateLimitInfo(
        None, None, None, MAX_VALUE, None
    )
