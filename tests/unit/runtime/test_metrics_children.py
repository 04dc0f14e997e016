"""child_of: a metric's labels() remembered per label tuple, the same child prometheus_client keeps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from gumloop_mcp.runtime import child_of


def test_the_remembered_child_is_the_metrics_own_and_counts_in_the_exposition() -> None:
    registry = CollectorRegistry()
    calls = Counter("calls", "Calls.", ["method", "code"], registry=registry)
    seconds = Histogram("call_seconds", "Latency.", ["method"], registry=registry)
    counted, timed = child_of(calls), child_of(seconds)
    assert counted("a", "OK") is calls.labels("a", "OK")
    assert counted("a", "OK") is counted("a", "OK")
    for _ in range(3):
        counted("a", "OK").inc()
    counted("a", "NOT_FOUND").inc()
    timed("a").observe(0.01)
    assert registry.get_sample_value("calls_total", {"method": "a", "code": "OK"}) == 3
    assert registry.get_sample_value("calls_total", {"method": "a", "code": "NOT_FOUND"}) == 1
    assert registry.get_sample_value("call_seconds_count", {"method": "a"}) == 1
