import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CredentialKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_KIND_UNSPECIFIED: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_API_KEY: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_OAUTH_ACCESS_TOKEN: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_OAUTH_CONNECTION: _ClassVar[CredentialKind]

class AccountState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_STATE_UNSPECIFIED: _ClassVar[AccountState]
    ACCOUNT_STATE_ACTIVE: _ClassVar[AccountState]
    ACCOUNT_STATE_PENDING_AUTHORIZATION: _ClassVar[AccountState]
    ACCOUNT_STATE_NEEDS_RECONNECTION: _ClassVar[AccountState]

class OperationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_KIND_UNSPECIFIED: _ClassVar[OperationKind]
    OPERATION_KIND_LIST: _ClassVar[OperationKind]
    OPERATION_KIND_GET: _ClassVar[OperationKind]
    OPERATION_KIND_CREATE: _ClassVar[OperationKind]
    OPERATION_KIND_UPDATE: _ClassVar[OperationKind]
    OPERATION_KIND_DELETE: _ClassVar[OperationKind]
    OPERATION_KIND_CUSTOM: _ClassVar[OperationKind]

class Host(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOST_UNSPECIFIED: _ClassVar[Host]
    HOST_API: _ClassVar[Host]
    HOST_STREAM: _ClassVar[Host]

class ParameterLocation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PARAMETER_LOCATION_UNSPECIFIED: _ClassVar[ParameterLocation]
    PARAMETER_LOCATION_PATH: _ClassVar[ParameterLocation]
    PARAMETER_LOCATION_QUERY: _ClassVar[ParameterLocation]
    PARAMETER_LOCATION_BODY: _ClassVar[ParameterLocation]
    PARAMETER_LOCATION_MULTIPART_FIELD: _ClassVar[ParameterLocation]
    PARAMETER_LOCATION_MULTIPART_FILE: _ClassVar[ParameterLocation]

class PaginationStyle(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAGINATION_STYLE_UNSPECIFIED: _ClassVar[PaginationStyle]
    PAGINATION_STYLE_NONE: _ClassVar[PaginationStyle]
    PAGINATION_STYLE_CURSOR: _ClassVar[PaginationStyle]
    PAGINATION_STYLE_PAGE_NUMBER: _ClassVar[PaginationStyle]
CREDENTIAL_KIND_UNSPECIFIED: CredentialKind
CREDENTIAL_KIND_API_KEY: CredentialKind
CREDENTIAL_KIND_OAUTH_ACCESS_TOKEN: CredentialKind
CREDENTIAL_KIND_OAUTH_CONNECTION: CredentialKind
ACCOUNT_STATE_UNSPECIFIED: AccountState
ACCOUNT_STATE_ACTIVE: AccountState
ACCOUNT_STATE_PENDING_AUTHORIZATION: AccountState
ACCOUNT_STATE_NEEDS_RECONNECTION: AccountState
OPERATION_KIND_UNSPECIFIED: OperationKind
OPERATION_KIND_LIST: OperationKind
OPERATION_KIND_GET: OperationKind
OPERATION_KIND_CREATE: OperationKind
OPERATION_KIND_UPDATE: OperationKind
OPERATION_KIND_DELETE: OperationKind
OPERATION_KIND_CUSTOM: OperationKind
HOST_UNSPECIFIED: Host
HOST_API: Host
HOST_STREAM: Host
PARAMETER_LOCATION_UNSPECIFIED: ParameterLocation
PARAMETER_LOCATION_PATH: ParameterLocation
PARAMETER_LOCATION_QUERY: ParameterLocation
PARAMETER_LOCATION_BODY: ParameterLocation
PARAMETER_LOCATION_MULTIPART_FIELD: ParameterLocation
PARAMETER_LOCATION_MULTIPART_FILE: ParameterLocation
PAGINATION_STYLE_UNSPECIFIED: PaginationStyle
PAGINATION_STYLE_NONE: PaginationStyle
PAGINATION_STYLE_CURSOR: PaginationStyle
PAGINATION_STYLE_PAGE_NUMBER: PaginationStyle

class Credential(_message.Message):
    __slots__ = ("kind", "secret")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    kind: CredentialKind
    secret: str
    def __init__(self, kind: _Optional[_Union[CredentialKind, str]] = ..., secret: _Optional[str] = ...) -> None: ...

class IntegratedAccount(_message.Message):
    __slots__ = ("id", "display_name", "credential_kind", "user_id", "team_id", "project_id", "api_base_url", "stream_base_url", "max_concurrency", "create_time", "state", "access_token_expire_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_KIND_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    API_BASE_URL_FIELD_NUMBER: _ClassVar[int]
    STREAM_BASE_URL_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    credential_kind: CredentialKind
    user_id: str
    team_id: str
    project_id: str
    api_base_url: str
    stream_base_url: str
    max_concurrency: int
    create_time: _timestamp_pb2.Timestamp
    state: AccountState
    access_token_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., credential_kind: _Optional[_Union[CredentialKind, str]] = ..., user_id: _Optional[str] = ..., team_id: _Optional[str] = ..., project_id: _Optional[str] = ..., api_base_url: _Optional[str] = ..., stream_base_url: _Optional[str] = ..., max_concurrency: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[AccountState, str]] = ..., access_token_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateIntegratedAccountRequest(_message.Message):
    __slots__ = ("account", "credential")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    account: IntegratedAccount
    credential: Credential
    def __init__(self, account: _Optional[_Union[IntegratedAccount, _Mapping]] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class CreateIntegratedAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: IntegratedAccount
    def __init__(self, account: _Optional[_Union[IntegratedAccount, _Mapping]] = ...) -> None: ...

class GetIntegratedAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class GetIntegratedAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: IntegratedAccount
    def __init__(self, account: _Optional[_Union[IntegratedAccount, _Mapping]] = ...) -> None: ...

class ListIntegratedAccountsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIntegratedAccountsResponse(_message.Message):
    __slots__ = ("accounts", "next_page_token")
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedCompositeFieldContainer[IntegratedAccount]
    next_page_token: str
    def __init__(self, accounts: _Optional[_Iterable[_Union[IntegratedAccount, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteIntegratedAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class DeleteIntegratedAccountResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StartAccountOAuthRequest(_message.Message):
    __slots__ = ("account", "account_id", "redirect_uri", "scopes")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    account: IntegratedAccount
    account_id: str
    redirect_uri: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, account: _Optional[_Union[IntegratedAccount, _Mapping]] = ..., account_id: _Optional[str] = ..., redirect_uri: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class StartAccountOAuthResponse(_message.Message):
    __slots__ = ("account", "authorization_url", "state", "expire_time")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_URL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    account: IntegratedAccount
    authorization_url: str
    state: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, account: _Optional[_Union[IntegratedAccount, _Mapping]] = ..., authorization_url: _Optional[str] = ..., state: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompleteAccountOAuthRequest(_message.Message):
    __slots__ = ("state", "code", "error", "error_description")
    STATE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    state: str
    code: str
    error: str
    error_description: str
    def __init__(self, state: _Optional[str] = ..., code: _Optional[str] = ..., error: _Optional[str] = ..., error_description: _Optional[str] = ...) -> None: ...

class CompleteAccountOAuthResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: IntegratedAccount
    def __init__(self, account: _Optional[_Union[IntegratedAccount, _Mapping]] = ...) -> None: ...

class Parameter(_message.Message):
    __slots__ = ("name", "location", "wire_name", "required")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    WIRE_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    name: str
    location: ParameterLocation
    wire_name: str
    required: bool
    def __init__(self, name: _Optional[str] = ..., location: _Optional[_Union[ParameterLocation, str]] = ..., wire_name: _Optional[str] = ..., required: _Optional[bool] = ...) -> None: ...

class Pagination(_message.Message):
    __slots__ = ("style", "items_field", "limit_parameter", "cursor_parameter", "next_cursor_field", "max_page_size")
    STYLE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PARAMETER_FIELD_NUMBER: _ClassVar[int]
    CURSOR_PARAMETER_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    style: PaginationStyle
    items_field: str
    limit_parameter: str
    cursor_parameter: str
    next_cursor_field: str
    max_page_size: int
    def __init__(self, style: _Optional[_Union[PaginationStyle, str]] = ..., items_field: _Optional[str] = ..., limit_parameter: _Optional[str] = ..., cursor_parameter: _Optional[str] = ..., next_cursor_field: _Optional[str] = ..., max_page_size: _Optional[int] = ...) -> None: ...

class AsyncWork(_message.Message):
    __slots__ = ("status_operation", "id_field", "status_id_parameter", "state_field", "terminal_states", "paused_states", "pending_field", "answer_operation", "answer_parameter", "resume_operation", "cancel_operation")
    STATUS_OPERATION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_FIELD_NUMBER: _ClassVar[int]
    STATUS_ID_PARAMETER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_STATES_FIELD_NUMBER: _ClassVar[int]
    PAUSED_STATES_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_FIELD_NUMBER: _ClassVar[int]
    ANSWER_OPERATION_FIELD_NUMBER: _ClassVar[int]
    ANSWER_PARAMETER_FIELD_NUMBER: _ClassVar[int]
    RESUME_OPERATION_FIELD_NUMBER: _ClassVar[int]
    CANCEL_OPERATION_FIELD_NUMBER: _ClassVar[int]
    status_operation: str
    id_field: str
    status_id_parameter: str
    state_field: str
    terminal_states: _containers.RepeatedScalarFieldContainer[str]
    paused_states: _containers.RepeatedScalarFieldContainer[str]
    pending_field: str
    answer_operation: str
    answer_parameter: str
    resume_operation: str
    cancel_operation: str
    def __init__(self, status_operation: _Optional[str] = ..., id_field: _Optional[str] = ..., status_id_parameter: _Optional[str] = ..., state_field: _Optional[str] = ..., terminal_states: _Optional[_Iterable[str]] = ..., paused_states: _Optional[_Iterable[str]] = ..., pending_field: _Optional[str] = ..., answer_operation: _Optional[str] = ..., answer_parameter: _Optional[str] = ..., resume_operation: _Optional[str] = ..., cancel_operation: _Optional[str] = ...) -> None: ...

class Operation(_message.Message):
    __slots__ = ("name", "kind", "resource", "resource_plural", "http_method", "host", "path", "title", "description", "tags", "input_schema_json", "output_schema_json", "parameters", "read_only", "destructive", "idempotent", "starts_async_work", "async_work", "streams", "pagination", "has_dynamic_inputs")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_PLURAL_FIELD_NUMBER: _ClassVar[int]
    HTTP_METHOD_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    DESTRUCTIVE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    STARTS_ASYNC_WORK_FIELD_NUMBER: _ClassVar[int]
    ASYNC_WORK_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_FIELD_NUMBER: _ClassVar[int]
    HAS_DYNAMIC_INPUTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: OperationKind
    resource: str
    resource_plural: str
    http_method: str
    host: Host
    path: str
    title: str
    description: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    input_schema_json: str
    output_schema_json: str
    parameters: _containers.RepeatedCompositeFieldContainer[Parameter]
    read_only: bool
    destructive: bool
    idempotent: bool
    starts_async_work: bool
    async_work: AsyncWork
    streams: bool
    pagination: Pagination
    has_dynamic_inputs: bool
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[OperationKind, str]] = ..., resource: _Optional[str] = ..., resource_plural: _Optional[str] = ..., http_method: _Optional[str] = ..., host: _Optional[_Union[Host, str]] = ..., path: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., input_schema_json: _Optional[str] = ..., output_schema_json: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[Parameter, _Mapping]]] = ..., read_only: _Optional[bool] = ..., destructive: _Optional[bool] = ..., idempotent: _Optional[bool] = ..., starts_async_work: _Optional[bool] = ..., async_work: _Optional[_Union[AsyncWork, _Mapping]] = ..., streams: _Optional[bool] = ..., pagination: _Optional[_Union[Pagination, _Mapping]] = ..., has_dynamic_inputs: _Optional[bool] = ...) -> None: ...

class ListOperationsRequest(_message.Message):
    __slots__ = ("kinds", "tags", "names")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[OperationKind]
    tags: _containers.RepeatedScalarFieldContainer[str]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kinds: _Optional[_Iterable[_Union[OperationKind, str]]] = ..., tags: _Optional[_Iterable[str]] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class ListOperationsResponse(_message.Message):
    __slots__ = ("operations", "catalog_version")
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[Operation]
    catalog_version: str
    def __init__(self, operations: _Optional[_Iterable[_Union[Operation, _Mapping]]] = ..., catalog_version: _Optional[str] = ...) -> None: ...

class GetOperationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetOperationResponse(_message.Message):
    __slots__ = ("operation",)
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    def __init__(self, operation: _Optional[_Union[Operation, _Mapping]] = ...) -> None: ...

class InvokeOperationRequest(_message.Message):
    __slots__ = ("account_id", "operation", "arguments_json", "idempotency_key", "validate_only")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    operation: str
    arguments_json: str
    idempotency_key: str
    validate_only: bool
    def __init__(self, account_id: _Optional[str] = ..., operation: _Optional[str] = ..., arguments_json: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class RateLimit(_message.Message):
    __slots__ = ("limit", "remaining", "reset_seconds", "retry_after_seconds", "ratelimit", "ratelimit_policy")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    RESET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RATELIMIT_FIELD_NUMBER: _ClassVar[int]
    RATELIMIT_POLICY_FIELD_NUMBER: _ClassVar[int]
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int
    ratelimit: str
    ratelimit_policy: str
    def __init__(self, limit: _Optional[int] = ..., remaining: _Optional[int] = ..., reset_seconds: _Optional[int] = ..., retry_after_seconds: _Optional[int] = ..., ratelimit: _Optional[str] = ..., ratelimit_policy: _Optional[str] = ...) -> None: ...

class DecodedContent(_message.Message):
    __slots__ = ("filename", "media_type", "size_bytes", "sha256", "markdown", "image", "metadata_only", "download_url", "download_url_expire_time")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_ONLY_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URL_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    markdown: MarkdownContent
    image: ImageContent
    metadata_only: MetadataOnly
    download_url: str
    download_url_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, filename: _Optional[str] = ..., media_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., markdown: _Optional[_Union[MarkdownContent, _Mapping]] = ..., image: _Optional[_Union[ImageContent, _Mapping]] = ..., metadata_only: _Optional[_Union[MetadataOnly, _Mapping]] = ..., download_url: _Optional[str] = ..., download_url_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MarkdownContent(_message.Message):
    __slots__ = ("text", "offset", "total_chars", "truncated", "next_offset", "source_format")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHARS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    text: str
    offset: int
    total_chars: int
    truncated: bool
    next_offset: int
    source_format: str
    def __init__(self, text: _Optional[str] = ..., offset: _Optional[int] = ..., total_chars: _Optional[int] = ..., truncated: _Optional[bool] = ..., next_offset: _Optional[int] = ..., source_format: _Optional[str] = ...) -> None: ...

class ImageContent(_message.Message):
    __slots__ = ("data", "media_type")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    media_type: str
    def __init__(self, data: _Optional[bytes] = ..., media_type: _Optional[str] = ...) -> None: ...

class MetadataOnly(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class InvokeOperationResponse(_message.Message):
    __slots__ = ("http_status", "headers", "body_json", "content", "rate_limit", "idempotent_replay")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_REPLAY_FIELD_NUMBER: _ClassVar[int]
    http_status: int
    headers: _containers.ScalarMap[str, str]
    body_json: str
    content: DecodedContent
    rate_limit: RateLimit
    idempotent_replay: bool
    def __init__(self, http_status: _Optional[int] = ..., headers: _Optional[_Mapping[str, str]] = ..., body_json: _Optional[str] = ..., content: _Optional[_Union[DecodedContent, _Mapping]] = ..., rate_limit: _Optional[_Union[RateLimit, _Mapping]] = ..., idempotent_replay: _Optional[bool] = ...) -> None: ...

class StreamOperationRequest(_message.Message):
    __slots__ = ("account_id", "operation", "arguments_json")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    operation: str
    arguments_json: str
    def __init__(self, account_id: _Optional[str] = ..., operation: _Optional[str] = ..., arguments_json: _Optional[str] = ...) -> None: ...

class StreamOperationResponse(_message.Message):
    __slots__ = ("start", "event", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: StreamStart
    event: StreamEvent
    end: StreamEnd
    def __init__(self, start: _Optional[_Union[StreamStart, _Mapping]] = ..., event: _Optional[_Union[StreamEvent, _Mapping]] = ..., end: _Optional[_Union[StreamEnd, _Mapping]] = ...) -> None: ...

class StreamStart(_message.Message):
    __slots__ = ("http_status", "headers")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    http_status: int
    headers: _containers.ScalarMap[str, str]
    def __init__(self, http_status: _Optional[int] = ..., headers: _Optional[_Mapping[str, str]] = ...) -> None: ...

class StreamEvent(_message.Message):
    __slots__ = ("event", "data", "id")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    event: str
    data: str
    id: str
    def __init__(self, event: _Optional[str] = ..., data: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class StreamEnd(_message.Message):
    __slots__ = ("event_count",)
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    event_count: int
    def __init__(self, event_count: _Optional[int] = ...) -> None: ...

class FlowInput(_message.Message):
    __slots__ = ("name", "data_type", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    data_type: str
    description: str
    def __init__(self, name: _Optional[str] = ..., data_type: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class GetFlowInputSchemaRequest(_message.Message):
    __slots__ = ("account_id", "saved_item_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SAVED_ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    saved_item_id: str
    def __init__(self, account_id: _Optional[str] = ..., saved_item_id: _Optional[str] = ...) -> None: ...

class GetFlowInputSchemaResponse(_message.Message):
    __slots__ = ("inputs", "schema_json")
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedCompositeFieldContainer[FlowInput]
    schema_json: str
    def __init__(self, inputs: _Optional[_Iterable[_Union[FlowInput, _Mapping]]] = ..., schema_json: _Optional[str] = ...) -> None: ...

class ReadArtifactRequest(_message.Message):
    __slots__ = ("account_id", "artifact_id", "version_id", "offset", "limit", "max_image_bytes")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    artifact_id: str
    version_id: str
    offset: int
    limit: int
    max_image_bytes: int
    def __init__(self, account_id: _Optional[str] = ..., artifact_id: _Optional[str] = ..., version_id: _Optional[str] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ..., max_image_bytes: _Optional[int] = ...) -> None: ...

class ReadArtifactResponse(_message.Message):
    __slots__ = ("artifact_id", "version_id", "content")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    version_id: str
    content: DecodedContent
    def __init__(self, artifact_id: _Optional[str] = ..., version_id: _Optional[str] = ..., content: _Optional[_Union[DecodedContent, _Mapping]] = ...) -> None: ...

class ReadSkillRequest(_message.Message):
    __slots__ = ("account_id", "skill_id", "version_id", "offset", "limit")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    skill_id: str
    version_id: str
    offset: int
    limit: int
    def __init__(self, account_id: _Optional[str] = ..., skill_id: _Optional[str] = ..., version_id: _Optional[str] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ReadSkillResponse(_message.Message):
    __slots__ = ("skill_id", "version_id", "content")
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    skill_id: str
    version_id: str
    content: DecodedContent
    def __init__(self, skill_id: _Optional[str] = ..., version_id: _Optional[str] = ..., content: _Optional[_Union[DecodedContent, _Mapping]] = ...) -> None: ...

class UpstreamError(_message.Message):
    __slots__ = ("http_status", "code", "type", "message", "param", "details_json", "operation", "rate_limit")
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PARAM_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    http_status: int
    code: str
    type: str
    message: str
    param: str
    details_json: str
    operation: str
    rate_limit: RateLimit
    def __init__(self, http_status: _Optional[int] = ..., code: _Optional[str] = ..., type: _Optional[str] = ..., message: _Optional[str] = ..., param: _Optional[str] = ..., details_json: _Optional[str] = ..., operation: _Optional[str] = ..., rate_limit: _Optional[_Union[RateLimit, _Mapping]] = ...) -> None: ...
