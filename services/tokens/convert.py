"""Conversions between store records and tokens.v1 messages (timestamps as epoch-second floats)."""

from __future__ import annotations

from typing import cast

from google.protobuf import timestamp_pb2

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb

from .store import ApiTokenRecord, RevocationEvent, ServerRecord

__all__ = ["api_token_message", "event_message", "server_message", "timestamp"]


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    """A Timestamp for epoch seconds (nanosecond precision)."""
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(round(seconds * 1e9))
    return ts


def server_message(record: ServerRecord) -> pb.McpServer:
    """The McpServer message of a record."""
    message = pb.McpServer(
        id=record.id,
        name=record.name,
        account_id=record.account_id,
        config=pb.McpServerConfig(
            methods=list(record.methods),
            tags=list(record.tags),
            tool_exposure=record.tool_exposure,
            context_budget_tokens=record.context_budget_tokens,
            audit_payloads=record.audit_payloads,
            oauth_allowed_emails=list(record.oauth_allowed_emails),
            oauth_allowed_domains=list(record.oauth_allowed_domains),
            oauth_allowed_groups=list(record.oauth_allowed_groups),
        ),
        require_api_token_auth=record.require_api_token_auth,
        require_oauth=record.require_oauth,
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
        token_prefix=record.token_prefix,
    )
    if record.expire_time is not None:
        message.expire_time.CopyFrom(timestamp(record.expire_time))
    if record.last_used_time is not None:
        message.last_used_time.CopyFrom(timestamp(record.last_used_time))
    return message


def api_token_message(record: ApiTokenRecord) -> pb.ApiToken:
    """The ApiToken message of a record (never its secret)."""
    message = pb.ApiToken(
        id=record.id,
        name=record.name,
        purposes=cast("list[pb.ApiTokenPurpose]", list(record.purposes)),
        account_id=record.account_id,
        create_time=timestamp(record.create_time),
        token_prefix=record.token_prefix,
    )
    if record.expire_time is not None:
        message.expire_time.CopyFrom(timestamp(record.expire_time))
    if record.last_used_time is not None:
        message.last_used_time.CopyFrom(timestamp(record.last_used_time))
    return message


def event_message(event: RevocationEvent) -> pb.WatchRevocationsResponse:
    """The WatchRevocationsResponse of a revocation event."""
    return pb.WatchRevocationsResponse(
        kind=cast("pb.RevocationKind", int(event.kind)),
        mcp_server_id=event.mcp_server_id,
        api_token_id=event.api_token_id,
        event_time=timestamp(event.event_time),
    )
