import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RevocationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVOCATION_KIND_UNSPECIFIED: _ClassVar[RevocationKind]
    REVOCATION_KIND_DELETED: _ClassVar[RevocationKind]
    REVOCATION_KIND_EXPIRED: _ClassVar[RevocationKind]
    REVOCATION_KIND_UPDATED: _ClassVar[RevocationKind]
    REVOCATION_KIND_ROTATED: _ClassVar[RevocationKind]
    REVOCATION_KIND_API_TOKEN_REVOKED: _ClassVar[RevocationKind]

class ApiTokenPurpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    API_TOKEN_PURPOSE_UNSPECIFIED: _ClassVar[ApiTokenPurpose]
    API_TOKEN_PURPOSE_MCP_CLIENT: _ClassVar[ApiTokenPurpose]
    API_TOKEN_PURPOSE_MANAGEMENT: _ClassVar[ApiTokenPurpose]
REVOCATION_KIND_UNSPECIFIED: RevocationKind
REVOCATION_KIND_DELETED: RevocationKind
REVOCATION_KIND_EXPIRED: RevocationKind
REVOCATION_KIND_UPDATED: RevocationKind
REVOCATION_KIND_ROTATED: RevocationKind
REVOCATION_KIND_API_TOKEN_REVOKED: RevocationKind
API_TOKEN_PURPOSE_UNSPECIFIED: ApiTokenPurpose
API_TOKEN_PURPOSE_MCP_CLIENT: ApiTokenPurpose
API_TOKEN_PURPOSE_MANAGEMENT: ApiTokenPurpose

class McpServerConfig(_message.Message):
    __slots__ = ("methods", "tags", "tool_exposure", "context_budget_tokens", "audit_payloads", "oauth_allowed_emails", "oauth_allowed_domains", "oauth_allowed_groups")
    METHODS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TOOL_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_BUDGET_TOKENS_FIELD_NUMBER: _ClassVar[int]
    AUDIT_PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    OAUTH_ALLOWED_EMAILS_FIELD_NUMBER: _ClassVar[int]
    OAUTH_ALLOWED_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    OAUTH_ALLOWED_GROUPS_FIELD_NUMBER: _ClassVar[int]
    methods: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    tool_exposure: str
    context_budget_tokens: int
    audit_payloads: bool
    oauth_allowed_emails: _containers.RepeatedScalarFieldContainer[str]
    oauth_allowed_domains: _containers.RepeatedScalarFieldContainer[str]
    oauth_allowed_groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, methods: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ..., tool_exposure: _Optional[str] = ..., context_budget_tokens: _Optional[int] = ..., audit_payloads: _Optional[bool] = ..., oauth_allowed_emails: _Optional[_Iterable[str]] = ..., oauth_allowed_domains: _Optional[_Iterable[str]] = ..., oauth_allowed_groups: _Optional[_Iterable[str]] = ...) -> None: ...

class McpServer(_message.Message):
    __slots__ = ("id", "name", "account_id", "config", "expire_time", "require_api_token_auth", "create_time", "update_time", "last_used_time", "token_prefix", "require_oauth")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_API_TOKEN_AUTH_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_TIME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_PREFIX_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_OAUTH_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    account_id: str
    config: McpServerConfig
    expire_time: _timestamp_pb2.Timestamp
    require_api_token_auth: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    last_used_time: _timestamp_pb2.Timestamp
    token_prefix: str
    require_oauth: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., account_id: _Optional[str] = ..., config: _Optional[_Union[McpServerConfig, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., require_api_token_auth: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., token_prefix: _Optional[str] = ..., require_oauth: _Optional[bool] = ...) -> None: ...

class CreateMcpServerRequest(_message.Message):
    __slots__ = ("mcp_server",)
    MCP_SERVER_FIELD_NUMBER: _ClassVar[int]
    mcp_server: McpServer
    def __init__(self, mcp_server: _Optional[_Union[McpServer, _Mapping]] = ...) -> None: ...

class CreateMcpServerResponse(_message.Message):
    __slots__ = ("mcp_server", "token")
    MCP_SERVER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    mcp_server: McpServer
    token: str
    def __init__(self, mcp_server: _Optional[_Union[McpServer, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class GetMcpServerRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetMcpServerResponse(_message.Message):
    __slots__ = ("mcp_server",)
    MCP_SERVER_FIELD_NUMBER: _ClassVar[int]
    mcp_server: McpServer
    def __init__(self, mcp_server: _Optional[_Union[McpServer, _Mapping]] = ...) -> None: ...

class ListMcpServersRequest(_message.Message):
    __slots__ = ("account_id", "page_size", "page_token")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    page_size: int
    page_token: str
    def __init__(self, account_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMcpServersResponse(_message.Message):
    __slots__ = ("mcp_servers", "next_page_token")
    MCP_SERVERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    mcp_servers: _containers.RepeatedCompositeFieldContainer[McpServer]
    next_page_token: str
    def __init__(self, mcp_servers: _Optional[_Iterable[_Union[McpServer, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateMcpServerRequest(_message.Message):
    __slots__ = ("mcp_server", "update_mask")
    MCP_SERVER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    mcp_server: McpServer
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, mcp_server: _Optional[_Union[McpServer, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateMcpServerResponse(_message.Message):
    __slots__ = ("mcp_server",)
    MCP_SERVER_FIELD_NUMBER: _ClassVar[int]
    mcp_server: McpServer
    def __init__(self, mcp_server: _Optional[_Union[McpServer, _Mapping]] = ...) -> None: ...

class DeleteMcpServerRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteMcpServerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateMcpServerTokenRequest(_message.Message):
    __slots__ = ("id", "grace_period")
    ID_FIELD_NUMBER: _ClassVar[int]
    GRACE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    id: str
    grace_period: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., grace_period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RotateMcpServerTokenResponse(_message.Message):
    __slots__ = ("mcp_server", "token", "old_token_expire_time")
    MCP_SERVER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    OLD_TOKEN_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    mcp_server: McpServer
    token: str
    old_token_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, mcp_server: _Optional[_Union[McpServer, _Mapping]] = ..., token: _Optional[str] = ..., old_token_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ResolveTokenRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class ResolveTokenResponse(_message.Message):
    __slots__ = ("mcp_server", "token_expire_time")
    MCP_SERVER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    mcp_server: McpServer
    token_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, mcp_server: _Optional[_Union[McpServer, _Mapping]] = ..., token_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchRevocationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchRevocationsResponse(_message.Message):
    __slots__ = ("kind", "mcp_server_id", "api_token_id", "event_time")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MCP_SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    API_TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    kind: RevocationKind
    mcp_server_id: str
    api_token_id: str
    event_time: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[_Union[RevocationKind, str]] = ..., mcp_server_id: _Optional[str] = ..., api_token_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ApiToken(_message.Message):
    __slots__ = ("id", "name", "purposes", "account_id", "expire_time", "create_time", "last_used_time", "token_prefix")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_TIME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_PREFIX_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    purposes: _containers.RepeatedScalarFieldContainer[ApiTokenPurpose]
    account_id: str
    expire_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    last_used_time: _timestamp_pb2.Timestamp
    token_prefix: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., purposes: _Optional[_Iterable[_Union[ApiTokenPurpose, str]]] = ..., account_id: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., token_prefix: _Optional[str] = ...) -> None: ...

class CreateApiTokenRequest(_message.Message):
    __slots__ = ("api_token",)
    API_TOKEN_FIELD_NUMBER: _ClassVar[int]
    api_token: ApiToken
    def __init__(self, api_token: _Optional[_Union[ApiToken, _Mapping]] = ...) -> None: ...

class CreateApiTokenResponse(_message.Message):
    __slots__ = ("api_token", "token")
    API_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    api_token: ApiToken
    token: str
    def __init__(self, api_token: _Optional[_Union[ApiToken, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class ListApiTokensRequest(_message.Message):
    __slots__ = ("account_id", "page_size", "page_token")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    page_size: int
    page_token: str
    def __init__(self, account_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListApiTokensResponse(_message.Message):
    __slots__ = ("api_tokens", "next_page_token")
    API_TOKENS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    api_tokens: _containers.RepeatedCompositeFieldContainer[ApiToken]
    next_page_token: str
    def __init__(self, api_tokens: _Optional[_Iterable[_Union[ApiToken, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeApiTokenRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RevokeApiTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VerifyApiTokenRequest(_message.Message):
    __slots__ = ("token", "purpose", "account_id")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    token: str
    purpose: ApiTokenPurpose
    account_id: str
    def __init__(self, token: _Optional[str] = ..., purpose: _Optional[_Union[ApiTokenPurpose, str]] = ..., account_id: _Optional[str] = ...) -> None: ...

class VerifyApiTokenResponse(_message.Message):
    __slots__ = ("api_token",)
    API_TOKEN_FIELD_NUMBER: _ClassVar[int]
    api_token: ApiToken
    def __init__(self, api_token: _Optional[_Union[ApiToken, _Mapping]] = ...) -> None: ...
