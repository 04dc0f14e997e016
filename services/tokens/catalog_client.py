"""The token service's view of the proxy: the operation catalog (cached briefly) and account lookups.

The catalog changes only when the proxy is redeployed, so it is cached for `catalog_cache_s`; when a
refresh fails and an older copy exists, the older copy is used rather than refusing every create.
Account lookups are not cached: an account deleted a moment ago must not receive new servers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

import grpc

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as proxy_pb2
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as proxy_grpc
from gumloop_mcp.scope import OperationRef

from .errors import NotFound, ProxyUnavailable

__all__ = ["ProxyClient"]

logger = logging.getLogger(__name__)

_KIND_PREFIX: Final = "OPERATION_KIND_"


def _operation_ref(operation: proxy_pb2.Operation) -> OperationRef:
    kind = proxy_pb2.OperationKind.Name(operation.kind).removeprefix(_KIND_PREFIX).lower()
    return OperationRef(name=operation.name, kind=kind, tags=tuple(operation.tags))


class ProxyClient:
    """Asks the proxy for its operation catalog and whether an integrated account exists."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        target: str,
        timeout_s: float,
        cache_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stub = proxy_grpc.ProxyServiceStub(channel)
        self._target = target
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._operations: list[OperationRef] | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def _unavailable(self, what: str, error: grpc.aio.AioRpcError) -> ProxyUnavailable:
        logger.warning("proxy %s failed: %s %s", what, error.code().name, error.details())
        return ProxyUnavailable(
            f"cannot {what}: the proxy at {self._target} answered {error.code().name}"
            f" ({error.details() or 'no details'}); try again shortly"
        )

    async def operations(self) -> list[OperationRef]:
        """The catalog's operations (cached for `cache_s`)."""
        async with self._lock:
            fresh = self._monotonic() - self._fetched_at < self._cache_s
            if self._operations is not None and fresh:
                return self._operations
            try:
                response = await self._stub.ListOperations(
                    proxy_pb2.ListOperationsRequest(), timeout=self._timeout_s
                )
            except grpc.aio.AioRpcError as error:
                if self._operations is not None:
                    logger.warning("catalog refresh failed (%s); using the cached copy", error.code().name)
                    return self._operations
                raise self._unavailable("validate the scope against the operation catalog", error) from error
            self._operations = [_operation_ref(op) for op in response.operations]
            self._fetched_at = self._monotonic()
            return self._operations

    async def require_account(self, account_id: str, field: str) -> None:
        """Return when the integrated account exists; raise NotFound (naming `field`) when it does not."""
        try:
            await self._stub.GetIntegratedAccount(
                proxy_pb2.GetIntegratedAccountRequest(account_id=account_id), timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound(
                    f"integrated account {account_id!r} does not exist",
                    resource_type="integrated_account",
                    name=account_id,
                    field=field,
                ) from error
            raise self._unavailable("check the integrated account", error) from error
