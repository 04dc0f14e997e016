"""What prompts/ and resources/ raise; protocol/features.py answers each with its JSON-RPC error."""

from __future__ import annotations

__all__ = ["FeatureError", "InvalidParams", "ResourceNotFound", "UpstreamFailed"]


class FeatureError(Exception):
    """A prompts/resources/completion request that cannot be answered; `message` is for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParams(FeatureError):
    """Bad params: an unknown prompt or argument, a missing required argument, a malformed cursor (-32602)."""


class ResourceNotFound(FeatureError):
    """The URI names nothing this server can read: unknown, malformed, gone, or outside the scope
    (the client cannot tell which, as with tools). -32002 on session revisions, -32602 on 2026-07-28."""

    def __init__(self, uri: str, why: str = "") -> None:
        super().__init__(f"Resource not found: {uri}" + (f" ({why})" if why else ""))
        self.uri = uri


class UpstreamFailed(FeatureError):
    """Gumloop (or the proxy) failed to answer the read; the message says what it said (-32603)."""
