"""Request and response bodies of the management REST API (pydantic; also feed the OpenAPI document),
and `Route`, one entry of the route table the app and the document are built from."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from aiohttp import web
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from gumloop_mcp.scope import (
    DEFAULT_CONTEXT_BUDGET_TOKENS,
    MAX_CONTEXT_BUDGET_TOKENS,
    MIN_CONTEXT_BUDGET_TOKENS,
)

__all__ = [
    "Handler",
    "Route",
    "AccountCreate",
    "AccountOAuthReconnect",
    "AccountOAuthStart",
    "AccountOAuthStarted",
    "AccountOut",
    "CatalogOperation",
    "CatalogOut",
    "ApiTokenCreate",
    "ApiTokenCreated",
    "ApiTokenOut",
    "ErrorBody",
    "ErrorEnvelope",
    "ID_PATTERN",
    "FieldViolation",
    "McpConfig",
    "McpServerCreate",
    "McpServerOut",
    "McpServerPatch",
    "MAX_ROTATION_GRACE_S",
    "MIN_EXPIRY_LEAD_S",
    "Page",
    "RotateRequest",
]

#: The longest rotation grace the REST API accepts (the token service's GMCP_TOKENS_MAX_ROTATION_GRACE_S
#: default; a lower setting there wins with a 400 naming it).
MAX_ROTATION_GRACE_S: Final = 86_400
#: How far ahead an expiry must lie (the token service's GMCP_TOKENS_MIN_EXPIRY_LEAD_S default).
MIN_EXPIRY_LEAD_S: Final = 60
# Non-blank, no control characters: the token service's name rule, so the schema allows only what it accepts.
_NAME_PATTERN: Final = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
#: Record ids in paths and bodies: what the services issue and accept.
ID_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,128}$"
_EXPIRY_DOC: Final = (
    f"ISO 8601 with offset; must lie at least {MIN_EXPIRY_LEAD_S} s ahead "
    "(GMCP_TOKENS_MIN_EXPIRY_LEAD_S); null = never"
)


def _strict_int(value: Any) -> Any:
    """JSON integers only: no strings ("30") and no booleans (pydantic would coerce both)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


def _absent_when_left_out(schema: dict[str, Any]) -> None:
    """A field that may be left out but not sent as null: no `"default": null` in its schema."""
    schema.pop("default", None)


_OPTIONAL: Final = Field(default=None, json_schema_extra=_absent_when_left_out)
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=_NAME_PATTERN)]
_ScopeEntry = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]
_Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
_Domain = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+\.[^@\s]+$")]
_Group = Annotated[str, Field(min_length=1, max_length=254, pattern=r"\S")]


Purpose = Literal["management", "mcp_client"]


class _Body(BaseModel):
    # Booleans are StrictBool below: "no"/"yes"/0/1 are refused, as the schema says (type boolean).
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_documented(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields[info.field_name or ""]
        if value is None and field.json_schema_extra is _absent_when_left_out:
            raise ValueError("must not be null: leave the field out instead")
        return value


class McpConfig(_Body):
    """Which operations the server exposes: method groups or operation names, and tags."""

    methods: list[_ScopeEntry] = Field(
        default_factory=list,
        max_length=200,
        description='method groups (read, write, custom) or operation names, e.g. ["read"]; empty = all. '
        "GET /catalog lists the valid values",
    )
    tags: list[_ScopeEntry] = Field(
        default_factory=list,
        max_length=200,
        description="only operations with one of these tags; GET /catalog lists them",
    )
    tool_exposure: Literal["default", "full", "discovery", "auto"] = Field(
        default="default",
        description="how tools/list shows the scope: full = one tool per operation; discovery = three meta "
        "tools (search_tools, get_tool_schema, call_tool); auto = full while the full list fits "
        "context_budget_tokens, discovery above it; default = the gateway's GMCP_FACADE_TOOL_EXPOSURE",
    )
    context_budget_tokens: Annotated[int, BeforeValidator(_strict_int)] = Field(
        default=0,
        ge=0,
        le=MAX_CONTEXT_BUDGET_TOKENS,
        description=f"model tokens auto allows the full tool list (JSON bytes / 4); 0 = "
        f"{DEFAULT_CONTEXT_BUDGET_TOKENS}, else at least {MIN_CONTEXT_BUDGET_TOKENS}",
    )
    audit_payloads: StrictBool = Field(
        default=False,
        description="the audit trail (GET .../activity) also keeps each call's arguments and result; "
        "they can hold customer data, so off by default",
    )
    oauth_allowed_emails: list[_Email] = Field(
        default_factory=list,
        max_length=200,
        description="require_oauth servers, with an identity provider (GMCP_FACADE_OIDC_*): people who may "
        "consent, by verified email; emails, domains and groups all empty = nobody",
    )
    oauth_allowed_domains: list[_Domain] = Field(
        default_factory=list,
        max_length=200,
        description="people whose verified email is at one of these domains (e.g. example.com) may consent",
    )
    oauth_allowed_groups: list[_Group] = Field(
        default_factory=list,
        max_length=200,
        description="people whose ID token lists one of these groups (GMCP_FACADE_OIDC_GROUPS_CLAIM) "
        "may consent",
    )


_OAUTH_DOC: Final = (
    "every MCP request needs an OAuth access token from the gateway's authorization server for this "
    "server's URL (sign-in from Claude.ai); turning it on turns require_api_token_auth off"
)
_ONE_FACTOR: Final = "require_api_token_auth and require_oauth exclude each other (one second factor)"


class McpServerCreate(_Body):
    """Body of POST /integrated-account/{id}/mcp."""

    name: Name
    config: McpConfig = Field(default_factory=McpConfig)
    expires_at: datetime | None = Field(default=None, description=_EXPIRY_DOC)
    require_api_token_auth: StrictBool = False
    require_oauth: StrictBool = Field(default=False, description=_OAUTH_DOC)

    @model_validator(mode="after")
    def _one_second_factor(self) -> McpServerCreate:
        if self.require_api_token_auth and self.require_oauth:
            raise ValueError(_ONE_FACTOR)
        return self


class McpServerPatch(_Body):
    """Body of PATCH /integrated-account/{id}/mcp/{mcp_id}: only the fields present change."""

    name: Name | SkipJsonSchema[None] = _OPTIONAL
    config: McpConfig | SkipJsonSchema[None] = _OPTIONAL
    expires_at: datetime | None = Field(default=None, description=_EXPIRY_DOC)
    require_api_token_auth: StrictBool | SkipJsonSchema[None] = _OPTIONAL
    require_oauth: StrictBool | SkipJsonSchema[None] = Field(
        default=None, description=_OAUTH_DOC, json_schema_extra=_absent_when_left_out
    )

    @model_validator(mode="after")
    def _one_second_factor(self) -> McpServerPatch:
        if self.require_api_token_auth and self.require_oauth:
            raise ValueError(_ONE_FACTOR)
        return self


class RotateRequest(_Body):
    """Optional body of POST /integrated-account/{id}/mcp/{mcp_id}/rotate."""

    grace_period_seconds: Annotated[int, BeforeValidator(_strict_int)] = Field(
        default=0,
        ge=0,
        le=MAX_ROTATION_GRACE_S,
        description=(
            "how long the old URL keeps working after the rotation (never past the server's expiry); "
            f"0 = it stops at once; at most {MAX_ROTATION_GRACE_S} s"
        ),
    )


class McpServerOut(BaseModel):
    """An MCP server; `url` carries the token and is returned only on creation and rotation."""

    id: str
    name: str
    account_id: str
    config: McpConfig
    expires_at: datetime | None
    require_api_token_auth: bool
    require_oauth: bool = False
    created_at: datetime | None
    last_used_at: datetime | None
    token_prefix: str
    url: str | None = None
    last_call_at: datetime | None = Field(
        default=None, description="the latest tool call in the audit trail (null: none kept)"
    )
    calls_24h: int | None = Field(
        default=None, description="tool calls in the audit trail over the last 24 hours (null: unknown)"
    )
    old_url_expires_at: datetime | None = Field(
        default=None, description="rotation only: when the previous URL stops working"
    )


_SECRET_PATTERN: Final = r"^[^\r\n\x00]*[^\s][^\r\n\x00]*$"
_Secret = Annotated[
    SecretStr, Field(min_length=1, max_length=4096, json_schema_extra={"pattern": _SECRET_PATTERN})
]
_Ref = Annotated[str, Field(max_length=128, pattern=r"^[\x20-\x7e]*$")]
_Url = Annotated[
    str,
    Field(
        max_length=2048,
        pattern=r"^(https?://[^/?#@\s]+(/[^?#\s]*)?)?$",
        description="http(s) base URL without query, fragment or user info; the proxy's egress rules apply",
    ),
]


class AccountCreate(_Body):
    """Body of POST /integrated-account; exactly one of api_key / access_token (api_key needs user_id)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["api_key", "user_id"], "properties": {"user_id": {"minLength": 1}}},
                {"required": ["access_token"], "not": {"required": ["api_key"]}},
            ]
        },
    )

    id: Annotated[str, Field(pattern=ID_PATTERN)] | None = Field(
        default=None, description="chosen id; generated when absent"
    )
    display_name: Name
    api_key: _Secret | SkipJsonSchema[None] = _OPTIONAL
    access_token: _Secret | SkipJsonSchema[None] = _OPTIONAL
    user_id: _Ref = Field(default="", description="Gumloop user id (x-auth-key); required with api_key")
    team_id: _Ref = ""
    project_id: _Ref = ""
    api_base_url: _Url = ""
    stream_base_url: _Url = ""

    @model_validator(mode="after")
    def _one_credential(self) -> AccountCreate:
        if (self.api_key is None) == (self.access_token is None):
            raise ValueError("give exactly one of api_key or access_token")
        secret = self.api_key or self.access_token
        if secret is not None and not re.match(_SECRET_PATTERN, secret.get_secret_value()):
            raise ValueError("the credential must be one non-blank line")
        if self.api_key is not None and not self.user_id:
            raise ValueError("user_id is required with api_key (sent as x-auth-key)")
        return self


_Scope = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]
_REDIRECT_DOC: Final = (
    "where Gumloop sends the browser back; default: this admin port's GET /integrated-account/oauth/callback "
    "on the Host the request came by"
)


class AccountOAuthReconnect(_Body):
    """Body of POST /integrated-account/{account_id}/oauth/start (optional)."""

    redirect_uri: _Url = Field(default="", description=_REDIRECT_DOC)
    scopes: list[_Scope] = Field(
        default_factory=list, max_length=20, description="OAuth scopes; empty: gumloop userinfo"
    )


class AccountOAuthStart(AccountOAuthReconnect):
    """Body of POST /integrated-account/oauth/start: a new account to connect through Gumloop's OAuth."""

    id: Annotated[str, Field(pattern=ID_PATTERN)] | None = Field(
        default=None, description="chosen id; generated when absent"
    )
    display_name: Name
    user_id: _Ref = Field(default="", description="Gumloop user id (legacy endpoints' user_id); optional")
    team_id: _Ref = ""
    project_id: _Ref = ""
    api_base_url: _Url = ""
    stream_base_url: _Url = ""


class AccountOut(BaseModel):
    """An integrated account (its credential is never returned)."""

    id: str
    display_name: str
    credential_kind: Literal["api_key", "access_token", "oauth_connection", "unspecified"]
    user_id: str
    team_id: str
    project_id: str
    api_base_url: str
    stream_base_url: str
    created_at: datetime | None
    state: Literal["active", "pending_authorization", "needs_reconnection", "unknown", "unspecified"] = Field(
        default="active",
        description="pending_authorization: an OAuth connection waiting for its callback; "
        "needs_reconnection: Gumloop refused to refresh its OAuth tokens (POST .../oauth/start reconnects "
        "it), or the latest call through its servers that reached Gumloop was refused for its credential "
        "(credentials_rejected_at says when); unknown: the audit trail is unavailable to tell",
    )
    credentials_rejected_at: datetime | None = Field(
        default=None,
        description="when a call was refused for the account's credential (with needs_reconnection)",
    )
    access_token_expires_at: datetime | None = Field(
        default=None,
        description="OAuth connections: when the current access token expires (refreshed before)",
    )


class AccountOAuthStarted(BaseModel):
    """A started OAuth connection: open authorization_url in a browser before expires_at."""

    account: AccountOut
    authorization_url: str
    expires_at: datetime | None


class ApiTokenCreate(_Body):
    """Body of POST /api-tokens."""

    name: Name
    expires_at: datetime | None = Field(default=None, description=_EXPIRY_DOC)
    purpose: list[Purpose] = Field(default_factory=lambda: list[Purpose](["mcp_client"]), min_length=1)
    account_id: Annotated[str, Field(pattern=r"^([A-Za-z0-9_.-]{1,128})?$")] = Field(
        default="", description="bind the token to one integrated account; empty = unbound"
    )


class ApiTokenOut(BaseModel):
    """An API token record (never the secret)."""

    id: str
    name: str
    purpose: list[str]
    account_id: str
    expires_at: datetime | None
    created_at: datetime | None
    last_used_at: datetime | None
    token_prefix: str


class ApiTokenCreated(ApiTokenOut):
    """A new API token: the secret, shown once."""

    token: str


class CatalogOperation(BaseModel):
    """One catalog operation as a scope sees it."""

    name: str = Field(description="operation name: usable in config.methods")
    tool_name: str = Field(description="the MCP tool it becomes")
    kind: Literal["read", "write", "custom"] = Field(description="its method group")
    operation_kind: Literal["list", "get", "create", "update", "delete", "custom"]
    tags: list[str] = Field(description="usable in config.tags")
    description: str = Field(description="one line")


class CatalogOut(BaseModel):
    """What config.methods and config.tags accept: method groups, operation names, tags."""

    method_groups: dict[str, list[str]] = Field(
        description="group name (usable in config.methods) -> the operation kinds it admits"
    )
    tags: list[str]
    operations: list[CatalogOperation]
    catalog_version: str


class Page(BaseModel):
    """A list page; pass next_cursor back as `next_cursor` for the next one."""

    result: list[McpServerOut] | list[AccountOut] | list[ApiTokenOut]
    next_cursor: str | None


class FieldViolation(BaseModel):
    """One invalid field."""

    field: str
    description: str


class ErrorBody(BaseModel):
    """What went wrong."""

    code: str
    message: str
    fields: list[FieldViolation] = Field(default_factory=list)


class ErrorEnvelope(BaseModel):
    """Every error response."""

    error: ErrorBody


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    """One management route: the table the app and the OpenAPI document are built from."""

    method: str
    path: str
    handler: Handler
    status: int
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    # The body may be left out (an empty body means the model's defaults).
    body_optional: bool = False
    paged: bool = False
    # Data of no account: tokens bound to one account may use it too.
    any_token: bool = False
    # More query parameters (OpenAPI parameter objects) and other media types of the response.
    query: tuple[dict[str, Any], ...] = ()
    alt_content: tuple[str, ...] = ()
    # Needs no API token (the OAuth callback: its single-use state authenticates it).
    public: bool = False
