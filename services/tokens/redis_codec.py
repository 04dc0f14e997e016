"""How the Redis store spells records: hash fields as text, times as exact float reprs."""

from __future__ import annotations

import json
from typing import Any

from .store import ApiTokenRecord, ServerRecord

__all__ = [
    "api_from_hash",
    "api_to_hash",
    "decode_time",
    "encode_time",
    "millis",
    "server_from_hash",
    "server_to_hash",
]


def encode_time(value: float | None) -> str:
    """Epoch seconds as exact text; "" for none."""
    return "" if value is None else repr(value)


def decode_time(value: str | None) -> float | None:
    """The inverse of encode_time."""
    return float(value) if value else None


def millis(seconds: float) -> int:
    """Epoch milliseconds, as PEXPIREAT takes them."""
    return int(seconds * 1000)


def server_from_hash(data: dict[str, str]) -> ServerRecord:
    """A server record from its hash fields."""
    return ServerRecord(
        id=data["id"],
        name=data["name"],
        account_id=data["account_id"],
        methods=tuple(json.loads(data["methods"])),
        tags=tuple(json.loads(data["tags"])),
        expire_time=decode_time(data.get("expire_time")),
        require_api_token_auth=data["require_api_token_auth"] == "1",
        create_time=float(data["create_time"]),
        update_time=float(data["update_time"]),
        last_used_time=decode_time(data.get("last_used_time")),
        token_prefix=data["token_prefix"],
        # absent from records written before these fields existed
        tool_exposure=data.get("tool_exposure", ""),
        context_budget_tokens=int(data.get("context_budget_tokens", "0")),
        audit_payloads=data.get("audit_payloads", "0") == "1",
        require_oauth=data.get("require_oauth", "0") == "1",
        oauth_allowed_emails=tuple(json.loads(data.get("oauth_allowed_emails", "[]"))),
        oauth_allowed_domains=tuple(json.loads(data.get("oauth_allowed_domains", "[]"))),
        oauth_allowed_groups=tuple(json.loads(data.get("oauth_allowed_groups", "[]"))),
    )


def server_to_hash(record: ServerRecord) -> dict[Any, Any]:
    """The hash fields of a server record."""
    return {
        "id": record.id,
        "name": record.name,
        "account_id": record.account_id,
        "methods": json.dumps(list(record.methods)),
        "tags": json.dumps(list(record.tags)),
        "expire_time": encode_time(record.expire_time),
        "require_api_token_auth": "1" if record.require_api_token_auth else "0",
        "create_time": repr(record.create_time),
        "update_time": repr(record.update_time),
        "last_used_time": encode_time(record.last_used_time),
        "token_prefix": record.token_prefix,
        "tool_exposure": record.tool_exposure,
        "require_oauth": "1" if record.require_oauth else "0",
        "context_budget_tokens": str(record.context_budget_tokens),
        "audit_payloads": "1" if record.audit_payloads else "0",
        "oauth_allowed_emails": json.dumps(list(record.oauth_allowed_emails)),
        "oauth_allowed_domains": json.dumps(list(record.oauth_allowed_domains)),
        "oauth_allowed_groups": json.dumps(list(record.oauth_allowed_groups)),
    }


def api_from_hash(data: dict[str, str]) -> ApiTokenRecord:
    """An API token record from its hash fields."""
    return ApiTokenRecord(
        id=data["id"],
        name=data["name"],
        purposes=tuple(json.loads(data["purposes"])),
        account_id=data["account_id"],
        expire_time=decode_time(data.get("expire_time")),
        create_time=float(data["create_time"]),
        last_used_time=decode_time(data.get("last_used_time")),
        token_prefix=data["token_prefix"],
    )


def api_to_hash(record: ApiTokenRecord) -> dict[Any, Any]:
    """The hash fields of an API token record."""
    return {
        "id": record.id,
        "name": record.name,
        "purposes": json.dumps(list(record.purposes)),
        "account_id": record.account_id,
        "expire_time": encode_time(record.expire_time),
        "create_time": repr(record.create_time),
        "last_used_time": encode_time(record.last_used_time),
        "token_prefix": record.token_prefix,
    }
