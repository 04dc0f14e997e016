"""Building the upstream HTTP request of an operation from validated arguments and an account.

Placement follows the catalog: path parameters are URL-encoded into the template (one segment
each; '', '.' and '..' refused), query parameters go in the query string (booleans as
true/false, lists repeated, None omitted as Gumloop's SDK does), body parameters form the
JSON body, multipart fields and files form a multipart body; integral floats (5.0) go as
integers wherever the schema says integer. The account supplies the auth
headers and the fields Gumloop wants from it (`user_id`/`project_id` on legacy endpoints,
`team_id` on every request when set).

Every path and query value is bounded once percent-encoded (MAX_PATH_SEGMENT_CHARS,
MAX_QUERY_VALUE_CHARS, and MAX_URL_TARGET_CHARS for path and query together), whatever the
catalog's schema says: an over-long one is refused naming its field, before anything is sent
(httpx refuses URLs past 64 KiB with InvalidURL; Gumloop's parser answers far shorter ones with
an error of its own).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import quote, urlencode

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

from .catalog import WHOLE_BODY, OperationSpec
from .errors import InvalidArguments

__all__ = [
    "AccountView",
    "UpstreamRequest",
    "auth_headers",
    "base_url",
    "build_request",
    "decode_file",
    "integral",
]


# Ids are far shorter; a free-text query value (a search) gets more room; common servers cap the
# request line at 8 KiB.
MAX_PATH_SEGMENT_CHARS: Final = 512
MAX_QUERY_VALUE_CHARS: Final = 2048
MAX_URL_TARGET_CHARS: Final = 7168


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class _Credential(Protocol):
    @property
    def kind(self) -> int: ...

    @property
    def secret(self) -> _Secret: ...


class AccountView(Protocol):
    """What the request builder needs from a stored account."""

    @property
    def id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def team_id(self) -> str: ...

    @property
    def project_id(self) -> str: ...

    @property
    def api_base_url(self) -> str: ...

    @property
    def stream_base_url(self) -> str: ...

    @property
    def credential(self) -> _Credential: ...


@dataclass
class UpstreamRequest:
    """One HTTP request ready for httpx. `repr` never shows the headers (they hold the credential)."""

    method: str
    url: str
    params: list[tuple[str, str]] = field(default_factory=list)
    json_body: Any = None
    form: dict[str, str] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)


def auth_headers(account: AccountView) -> dict[str, str]:
    """Bearer credential, plus `x-auth-key: <user_id>` for API keys (OAuth tokens carry the user)."""
    headers = {"authorization": f"Bearer {account.credential.secret.get_secret_value()}"}
    if account.credential.kind == pb.CREDENTIAL_KIND_API_KEY and account.user_id:
        headers["x-auth-key"] = account.user_id
    return headers


def base_url(account: AccountView, host: str) -> str:
    """The account's base URL for `host` ("API" or "STREAM"), without a trailing slash."""
    return (account.stream_base_url if host == "STREAM" else account.api_base_url).rstrip("/")


def build_request(op: OperationSpec, arguments: Mapping[str, Any], account: AccountView) -> UpstreamRequest:
    """The HTTP request for `op` with schema-valid `arguments` on behalf of `account`."""
    path = op.path
    params: list[tuple[str, str]] = list(op.fixed_query.items())
    body: dict[str, Any] = dict(op.fixed_body)
    whole_body: Any = None
    form: dict[str, str] = {}
    files: list[tuple[str, tuple[str, bytes, str]]] = []
    properties = op.input_schema.get("properties") or {}
    for param in op.parameters:
        if param.name not in arguments or arguments[param.name] is None:
            continue
        value = integral(properties.get(param.name), arguments[param.name])
        if param.location == "path":
            path = path.replace("{" + param.wire_name + "}", _path_segment(param.name, value))
        elif param.location == "query":
            params.extend(_query_pairs(param.name, param.wire_name, value))
        elif param.location == "body":
            if param.wire_name == WHOLE_BODY:
                whole_body = value
            else:
                body[param.wire_name] = value
        elif param.location == "multipart_field":
            form[param.wire_name] = _scalar(value)
        else:
            items = value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                where = f"{param.name}[{index}]" if isinstance(value, list) else param.name
                files.append((param.wire_name, decode_file(item, where)))

    account_values = {
        "user_id": account.user_id,
        "project_id": account.project_id,
    }
    extra_body: dict[str, str] = {}
    for name in op.account_fields:
        value = account_values.get(name, "")
        if not value:
            continue
        if op.method == "GET" or op.method == "DELETE":
            params.append((name, value))
        else:
            extra_body[name] = value
    if account.team_id and op.host != "STREAM" and not op.team_unscoped:
        # Gumloop's SDK sends team_id in the query of every request to the API host (never to the stream
        # host: its stream and chat calls carry none, nor its personal browser-profile calls, which it
        # makes scoped=False); some POSTs want it in the body too.
        params.append(("team_id", account.team_id))
        if op.team_id_in_body and op.method not in ("GET", "DELETE"):
            extra_body["team_id"] = account.team_id

    _check_url_length(op, arguments, path, params)
    request = UpstreamRequest(
        method=op.method, url=base_url(account, op.host) + path, params=params, headers=auth_headers(account)
    )
    multipart = any(p.location.startswith("multipart") for p in op.parameters)
    if multipart:
        request.form = {**form, **extra_body}
        request.files = files
    elif op.method not in ("GET", "DELETE"):
        if whole_body is not None:
            request.json_body = (
                {**op.fixed_body, **whole_body, **extra_body} if isinstance(whole_body, dict) else whole_body
            )
        else:
            request.json_body = {**body, **extra_body}
    request.headers["accept"] = (
        "text/event-stream" if op.streams and _wants_stream(op, arguments) else ("application/json")
    )
    return request


def integral(schema: Any, value: Any) -> Any:
    """`value` with integral floats (5.0) made ints where `schema` types it integer, nested too.

    JSON Schema counts 5.0 as an integer, so validation passes it; sent as is it would reach
    Gumloop as `page_size=5.0` (or 5.0 in a body), which Gumloop refuses as not an integer.
    """
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, float):
        types = schema.get("type")
        wanted = set(types) if isinstance(types, list) else {types}
        if "integer" in wanted and "number" not in wanted and value.is_integer():
            return int(value)
        return value
    if isinstance(value, list):
        items = schema.get("items")
        return [integral(items, v) for v in value] if isinstance(items, Mapping) else value
    if isinstance(value, dict):
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return value
        return {k: integral(properties.get(k), v) for k, v in value.items()}
    return value


def _wants_stream(op: OperationSpec, arguments: Mapping[str, Any]) -> bool:
    return bool(
        op.fixed_query.get("stream") == "true"
        or op.fixed_body.get("stream") is True
        or arguments.get("stream") is True
    )


def decode_file(item: Any, where: str) -> tuple[str, bytes, str]:
    """A file argument {filename, content_base64 | content_text, media_type?} as (name, bytes, type)."""
    if not isinstance(item, dict) or not isinstance(item.get("filename"), str) or not item["filename"]:
        raise InvalidArguments(
            [(where, "must be an object with filename and content_base64 or content_text")]
        )
    has_b64, has_text = "content_base64" in item, "content_text" in item
    if has_b64 == has_text:
        raise InvalidArguments([(where, "needs exactly one of content_base64 or content_text")])
    if has_b64:
        try:
            data = base64.b64decode(str(item["content_base64"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidArguments([(f"{where}.content_base64", "is not valid base64")]) from exc
    else:
        data = str(item["content_text"]).encode()
    media_type = str(item.get("media_type") or _guess_media_type(item["filename"]))
    return item["filename"], data, media_type


def _guess_media_type(filename: str) -> str:
    lowered = filename.lower()
    if lowered.endswith(".md"):
        return "text/markdown"
    if lowered.endswith((".zip", ".skill")):
        return "application/zip"
    if lowered.endswith(".json"):
        return "application/json"
    if lowered.endswith((".txt", ".py", ".sh")):
        return "text/plain"
    return "application/octet-stream"


def _path_segment(name: str, value: Any) -> str:
    """`value` as one percent-encoded path segment; refuses the values URL layers resolve away.

    quote(safe="") keeps '/', '?', '#' and '%' from leaving the segment, but '.', '..' and '' are
    left as they are and removed by URL normalization (httpx, yarl): /agents/../runs is /runs and
    /agents/ lists instead of reading one, so the call would reach another route than its tool's.
    """
    text = _scalar(value)
    if text in ("", ".", ".."):
        raise InvalidArguments([(name, "must be an id, not empty, '.' or '..'")])
    encoded = quote(text, safe="")
    if len(encoded) > MAX_PATH_SEGMENT_CHARS:
        raise InvalidArguments([(name, _too_long(len(encoded), MAX_PATH_SEGMENT_CHARS))])
    return encoded


def _too_long(length: int, limit: int) -> str:
    return f"is too long for the URL: {length} characters once percent-encoded, at most {limit}"


def _check_url_length(
    op: OperationSpec, arguments: Mapping[str, Any], path: str, params: list[tuple[str, str]]
) -> None:
    """Refuse a path and query that together pass MAX_URL_TARGET_CHARS, naming the longest argument."""
    length = len(path) + 1 + len(urlencode(params))
    if length <= MAX_URL_TARGET_CHARS:
        return
    in_url = [p.name for p in op.parameters if p.location in ("path", "query") and p.name in arguments]
    longest = max(in_url, key=lambda name: len(_scalar(arguments[name])), default="arguments")
    raise InvalidArguments(
        [(longest, _too_long(length, MAX_URL_TARGET_CHARS) + " for path and query together")]
    )


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _query_pairs(field: str, name: str, value: Any) -> list[tuple[str, str]]:
    """(wire name, text) pairs of a query argument, each value bounded (a list's items one by one)."""
    items = (
        [(f"{field}[{i}]", v) for i, v in enumerate(value)] if isinstance(value, list) else [(field, value)]
    )
    pairs: list[tuple[str, str]] = []
    for where, item in items:
        if item is None:
            continue
        text = _scalar(item)
        encoded = len(quote(text, safe=""))
        if encoded > MAX_QUERY_VALUE_CHARS:
            raise InvalidArguments([(where, _too_long(encoded, MAX_QUERY_VALUE_CHARS))])
        pairs.append((name, text))
    return pairs
