"""Which tools a server scope admits, by the shared rule in `gumloop_mcp.scope`."""

from __future__ import annotations

from collections.abc import Iterable

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.scope import OperationRef, in_scope

from ..contracts import ServerScope
from .naming import kind_name

__all__ = ["admits", "operation_ref", "scoped"]


def operation_ref(operation: pb.Operation) -> OperationRef:
    """The parts of an operation that scope decisions look at."""
    return OperationRef(name=operation.name, kind=kind_name(operation), tags=tuple(operation.tags))


def admits(scope: ServerScope, operation: pb.Operation) -> bool:
    """Whether `scope` exposes `operation`."""
    return in_scope(operation_ref(operation), scope.methods, scope.tags)


def scoped(scope: ServerScope, operations: Iterable[pb.Operation]) -> list[pb.Operation]:
    """The operations `scope` exposes, in the given order."""
    return [op for op in operations if admits(scope, op)]
