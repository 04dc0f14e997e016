"""Request and response bodies of the management REST API (pydantic; also feed the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = [
    "AccountCreate",
    "AccountOut",
    "ApiTokenCreate",
    "ApiTokenCreated",
    "ApiTokenOut",
    "ErrorBody",
    "ErrorEnvelope",
    "FieldViolation",
    "McpConfig",
    "McpServerCreate",
    "McpServerOut",
    "McpServerPatch",
    "Page",
]


Purpose = Literal["management", "mcp_client"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class McpConfig(_Body):
    """Which operations the server exposes: method groups or operation names, and tags."""

    methods: list[str] = Field(default_factory=list, description='e.g. ["read"]; empty = all')
    tags: list[str] = Field(default_factory=list, description="only operations with one of these tags")


class McpServerCreate(_Body):
    """Body of POST /integrated-account/{id}/mcp."""

    name: str = Field(min_length=1, max_length=128)
    config: McpConfig = Field(default_factory=McpConfig)
    expires_at: datetime | None = Field(default=None, description="ISO 8601 with offset; null = never")
    require_api_token_auth: bool = False


class McpServerPatch(_Body):
    """Body of PATCH /integrated-account/{id}/mcp/{mcp_id}: only the fields present change."""

    name: str | None = Field(default=None, min_length=1, max_length=128)
    config: McpConfig | None = None
    expires_at: datetime | None = None
    require_api_token_auth: bool | None = None


class McpServerOut(BaseModel):
    """An MCP server; `url` carries the token and is returned only on creation and rotation."""

    id: str
    name: str
    account_id: str
    config: McpConfig
    expires_at: datetime | None
    require_api_token_auth: bool
    created_at: datetime | None
    last_used_at: datetime | None
    token_prefix: str
    url: str | None = None


class AccountCreate(_Body):
    """Body of POST /integrated-account; exactly one of api_key / access_token."""

    id: str | None = Field(default=None, description="chosen id; generated when absent")
    display_name: str = Field(min_length=1, max_length=128)
    api_key: SecretStr | None = None
    access_token: SecretStr | None = None
    user_id: str = ""
    team_id: str = ""
    project_id: str = ""
    api_base_url: str = ""
    stream_base_url: str = ""

    @model_validator(mode="after")
    def _one_credential(self) -> AccountCreate:
        if (self.api_key is None) == (self.access_token is None):
            raise ValueError("give exactly one of api_key or access_token")
        return self


class AccountOut(BaseModel):
    """An integrated account (its credential is never returned)."""

    id: str
    display_name: str
    credential_kind: Literal["api_key", "access_token", "unspecified"]
    user_id: str
    team_id: str
    project_id: str
    api_base_url: str
    stream_base_url: str
    created_at: datetime | None


class ApiTokenCreate(_Body):
    """Body of POST /api-tokens."""

    name: str = Field(min_length=1, max_length=128)
    expires_at: datetime | None = None
    purpose: list[Purpose] = Field(default_factory=lambda: list[Purpose](["mcp_client"]))
    account_id: str = ""


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
