"""Injected faults (latency, status, connection reset, malformed body) for resilience tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = {"latency", "status", "reset", "malformed"}


@dataclass
class Fault:
    """One rule: requests matching ``path_prefix``/``method`` get ``kind`` ``count`` times (-1 = forever)."""

    path_prefix: str
    method: str | None
    kind: str
    count: int
    latency_ms: int = 0
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is affected."""
        return path.startswith(self.path_prefix) and (
            self.method is None or self.method.upper() == method.upper()
        )


class Faults:
    """The active fault rules."""

    def __init__(self) -> None:
        self.rules: list[Fault] = []

    def clear(self) -> None:
        """Remove every rule."""
        self.rules.clear()

    def add(self, spec: dict[str, Any]) -> Fault:
        """Parse and add a rule; ValueError with a clear message when the spec is wrong."""
        match = spec.get("match") or {}
        if not isinstance(match, dict):
            raise ValueError("match must be an object")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}")
        count = spec.get("count", 1)
        if not isinstance(count, int) or count == 0 or count < -1:
            raise ValueError("count must be a positive integer or -1")
        headers = spec.get("headers") or {}
        if not isinstance(headers, dict):
            raise ValueError("headers must be an object")
        fault = Fault(
            path_prefix=str(match.get("path_prefix", "/")),
            method=match.get("method"),
            kind=kind,
            count=count,
            latency_ms=int(spec.get("latency_ms", 0)),
            status=int(spec.get("status", 503)),
            headers={str(k): str(v) for k, v in headers.items()},
            body=spec.get("body"),
        )
        self.rules.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule matching the request, consuming one of its uses."""
        for fault in self.rules:
            if fault.matches(method, path):
                if fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self.rules.remove(fault)
                return fault
        return None
