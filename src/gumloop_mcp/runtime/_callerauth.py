"""Service-to-service authentication: named caller tokens checked by a gRPC server interceptor.

A server is configured with its callers as one string (an env var fed by a Secret), either
comma/whitespace-separated ``name=token`` entries or a JSON list of such strings::

    GMCP_PROXY_CALLER_TOKENS="facade=<token>,tokens=<token>,cli=<token>"
    GMCP_PROXY_CALLER_TOKENS='["facade=<token>", "tokens=<token>"]'

A name may appear twice (old and new token while a caller is rotated). Only SHA-256 digests of
the tokens are kept; a presented token is digested and compared with every known digest by
`hmac.compare_digest` (equal lengths, no early exit), so timing says nothing about the tokens.

Callers send ``authorization: Bearer <token>`` metadata (`create_channel(target, caller_token=)`).
Health checking and reflection stay open: Kubernetes' native gRPC probes send no metadata.
An empty caller list means open mode (every call is accepted, as before this existed).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import grpc

from ._logging import caller_var

__all__ = [
    "OPEN_METHOD_PREFIXES",
    "CallerAuthInterceptor",
    "CallerTokens",
    "is_loopback_host",
]

logger = logging.getLogger(__name__)

# Methods every caller (a kubelet probe, grpcurl listing services) may use without a token.
OPEN_METHOD_PREFIXES: Final = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
MIN_TOKEN_CHARS: Final = 16
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_BEARER: Final = "bearer "


# In the UNAUTHENTICATED message of a refused caller, so a client tells "my own service credential
# was refused" (an operator's configuration problem) from an UNAUTHENTICATED answer of the RPC itself.
CALLER_REFUSED: Final = "requires a caller token"


def is_caller_refusal(err: grpc.aio.AioRpcError) -> bool:
    """Whether `err` is this interceptor refusing the caller (not the called RPC's own answer)."""
    return err.code() == grpc.StatusCode.UNAUTHENTICATED and CALLER_REFUSED in (err.details() or "")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class CallerTokens:
    """The named callers a server accepts, kept as (name, sha256 digest) pairs."""

    def __init__(self, entries: Mapping[str, str] | Sequence[tuple[str, str]] = ()) -> None:
        pairs = list(entries.items()) if isinstance(entries, Mapping) else list(entries)
        self._digests: list[tuple[str, bytes]] = []
        for name, token in pairs:
            if not _NAME.fullmatch(name):
                raise ValueError(
                    f"caller name {name!r} must be 1-64 of A-Z a-z 0-9 _ . - (starting alphanumeric)"
                )
            if len(token) < MIN_TOKEN_CHARS or any(c.isspace() or c == "," for c in token):
                raise ValueError(
                    f"caller {name!r}: token must be at least {MIN_TOKEN_CHARS} characters "
                    "without spaces or commas"
                )
            self._digests.append((name, _digest(token)))

    @classmethod
    def parse(cls, text: str | None) -> CallerTokens:
        """Callers from ``name=token`` entries (comma/whitespace separated) or a JSON list of them.

        Raises ValueError naming the bad entry by position and caller name, never its token.
        """
        text = (text or "").strip()
        if not text:
            return cls()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise ValueError("caller tokens: not a valid JSON list") from None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError('caller tokens: a JSON value must be a list of "name=token" strings')
        else:
            items = [i for i in re.split(r"[,\s]+", text) if i]
        pairs: list[tuple[str, str]] = []
        for position, item in enumerate(items, 1):
            name, sep, token = item.strip().partition("=")
            if not sep or not name or not token:
                raise ValueError(f'caller tokens: entry {position} is not "name=token"')
            pairs.append((name.strip(), token.strip()))
        return cls(pairs)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    @property
    def names(self) -> list[str]:
        """The caller names, sorted, each once."""
        return sorted({name for name, _ in self._digests})

    def identify(self, token: str) -> str | None:
        """The name of the caller whose token this is, or None. Compares with every digest."""
        presented = _digest(token)
        found: str | None = None
        for name, digest in self._digests:
            # No early exit: the time taken does not depend on which entry (if any) matched.
            if hmac.compare_digest(presented, digest) and found is None:
                found = name
        return found


def is_loopback_host(host: str) -> bool:
    """Whether a host (bind address, Host header name) is this machine: localhost or a loopback IP.

    Parsed as an address, never matched by prefix: `127.attacker.example` is a DNS name.
    """
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _deny_handler(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that ends the call UNAUTHENTICATED unread."""

    async def deny(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)


class CallerAuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Lets a call through only with ``authorization: Bearer <token>`` of a known caller.

    The caller's name is set in `caller_var` (logged with every line of the call); a refused call
    is answered UNAUTHENTICATED and logged with the method and the reason, never the token.
    """

    def __init__(self, callers: CallerTokens, service: str = "this service") -> None:
        self._callers = callers
        self._service = service

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method or ""
        if method.startswith(OPEN_METHOD_PREFIXES):
            return await continuation(handler_call_details)
        values = [v for k, v in (handler_call_details.invocation_metadata or ()) if k == "authorization"]
        if not values:
            reason = "missing authorization metadata"
        elif len(values) > 1:
            reason = "more than one authorization metadata entry"
        elif not isinstance(values[0], str) or values[0][: len(_BEARER)].lower() != _BEARER:
            reason = "authorization metadata is not 'Bearer <caller token>'"
        else:
            name = self._callers.identify(values[0][len(_BEARER) :].strip())
            if name is not None:
                caller_var.set(name)
                logger.debug("caller %s calls %s", name, method)
                return await continuation(handler_call_details)
            reason = "unknown caller token"
        caller_var.set("")
        # The method path comes from the caller: bounded, so a stranger cannot write long lines.
        logger.warning("refused %s: %s", method[:200], reason)
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: let gRPC answer UNIMPLEMENTED as usual
            return None
        return _deny_handler(
            handler,
            f"{self._service} {CALLER_REFUSED} ({reason}); send 'authorization: Bearer <token>'",
        )
