"""Building upstream requests: placements, account fields and auth headers."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pytest
from pydantic import SecretStr

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.gumloop_proxy.arguments import parse_arguments, validate_arguments
from services.gumloop_proxy.catalog import OperationSpec, default_catalog
from services.gumloop_proxy.errors import InvalidArguments
from services.gumloop_proxy.requests import (
    MAX_PATH_SEGMENT_CHARS,
    MAX_QUERY_VALUE_CHARS,
    MAX_URL_TARGET_CHARS,
    build_request,
)

CATALOG = default_catalog()


@dataclass
class Cred:
    kind: int
    secret: SecretStr


@dataclass
class Account:
    id: str = "acct_1"
    user_id: str = "user_1"
    team_id: str = ""
    project_id: str = ""
    api_base_url: str = "http://127.0.0.1:9/api/v1"
    stream_base_url: str = "http://127.0.0.1:9/ws/api/v1/"
    credential: Cred = field(default_factory=lambda: Cred(pb.CREDENTIAL_KIND_API_KEY, SecretStr("gl-key")))


def _op(name: str) -> OperationSpec:
    op = CATALOG.get(name)
    assert op is not None
    return op


def test_path_parameters_are_url_encoded_into_the_template() -> None:
    """Slashes and spaces in ids cannot escape their path segment."""
    request = build_request(_op("get_agent"), {"agent_id": "a/b c"}, Account())
    assert request.method == "GET"
    assert request.url == "http://127.0.0.1:9/api/v1/agents/a%2Fb%20c"
    assert request.json_body is None


def test_query_parameters_use_true_false_and_omit_absent_ones() -> None:
    """Booleans become true/false, integers decimal, unset arguments are not sent."""
    request = build_request(_op("list_agents"), {"has_triggers": False, "search": None}, Account())
    assert request.params == [("has_triggers", "false")]
    request = build_request(_op("list_skills"), {"page_size": 5, "unused": True, "cursor": None}, Account())
    assert request.params == [("unused", "true"), ("page_size", "5")]


def test_legacy_get_gets_user_id_in_the_query_and_post_in_the_body() -> None:
    """Account-derived user_id/project_id: query for GET, JSON body for POST."""
    account = Account(project_id="proj_1")
    get = build_request(_op("get_pl_run"), {"run_id": "r1"}, account)
    assert get.params == [("run_id", "r1"), ("user_id", "user_1"), ("project_id", "proj_1")]
    post = build_request(_op("kill_pipeline"), {"run_id": "r1"}, account)
    assert post.json_body == {"run_id": "r1", "user_id": "user_1", "project_id": "proj_1"}
    assert post.params == []


def test_team_id_goes_in_every_query_and_in_the_body_where_gumloop_wants_it() -> None:
    """Like Gumloop's SDK: team_id in the query of every API-host request, and in the body of e.g. POST
    /agents; never on the stream host (the SDK's stream and chat calls send none)."""
    account = Account(team_id="team_9")
    create = build_request(_op("create_agent"), {"name": "n", "model_name": "m"}, account)
    assert ("team_id", "team_9") in create.params
    assert create.json_body == {"name": "n", "model_name": "m", "team_id": "team_9"}
    get = build_request(_op("get_agent"), {"agent_id": "a"}, account)
    assert get.params == [("team_id", "team_9")]
    stream = build_request(_op("stream_session"), {"session_id": "s", "last_cursor": "s:1"}, account)
    assert all(name != "team_id" for name, _ in stream.params)
    chat = build_request(_op("create_chat_completion"), {"model": "m", "messages": []}, account)
    assert all(name != "team_id" for name, _ in chat.params) and "team_id" not in (chat.json_body or {})


def test_personal_browser_profile_calls_carry_no_team_id_as_the_sdk_sends_them() -> None:
    """The SDK makes create/get/update/delete of a browser profile scoped=False (no team_id anywhere);
    its list and cookie import stay scoped like every other call."""
    account = Account(team_id="team_9")
    for name, arguments in [
        ("create_browser_profile", {"name": "Work"}),
        ("get_browser_profile", {"profile_id": "default"}),
        ("update_browser_profile", {"profile_id": "bp_1", "name": "n"}),
        ("delete_browser_profile", {"profile_id": "bp_1"}),
    ]:
        request = build_request(_op(name), arguments, account)
        assert request.params == [] and "team_id" not in (request.json_body or {}), name
    listed = build_request(_op("list_browser_profiles"), {}, account)
    assert listed.params == [("team_id", "team_9")]
    cookies = {"profile_id": "bp_1", "cookies": [{"name": "a", "value": "b", "domain": "x.com"}]}
    assert ("team_id", "team_9") in build_request(
        _op("import_browser_profile_cookies"), cookies, account
    ).params


def test_api_keys_send_x_auth_key_and_oauth_tokens_do_not() -> None:
    """API key: bearer + x-auth-key user id; OAuth: bearer only."""
    api = build_request(_op("list_teams"), {}, Account())
    assert api.headers["authorization"] == "Bearer gl-key" and api.headers["x-auth-key"] == "user_1"
    oauth = Account(credential=Cred(pb.CREDENTIAL_KIND_OAUTH_ACCESS_TOKEN, SecretStr("tok")))
    headers = build_request(_op("list_teams"), {}, oauth).headers
    assert headers["authorization"] == "Bearer tok" and "x-auth-key" not in headers
    assert "gl-key" not in repr(build_request(_op("list_teams"), {}, Account()))


def test_multipart_files_are_decoded_from_base64_or_text() -> None:
    """A skill upload becomes multipart file parts named `files`, no JSON body."""
    files = [
        {"filename": "SKILL.md", "content_text": "---\nname: x\n---\n"},
        {
            "filename": "data.bin",
            "content_base64": base64.b64encode(b"\x00\x01").decode(),
            "media_type": "x/y",
        },
    ]
    request = build_request(_op("create_skill"), {"files": files}, Account(team_id="t"))
    assert request.json_body is None
    assert request.files == [
        ("files", ("SKILL.md", b"---\nname: x\n---\n", "text/markdown")),
        ("files", ("data.bin", b"\x00\x01", "x/y")),
    ]
    assert request.form == {"team_id": "t"}


def test_bad_base64_and_missing_content_name_the_file() -> None:
    """File arguments that cannot be decoded are invalid arguments naming the list index."""
    with pytest.raises(InvalidArguments) as caught:
        build_request(_op("create_skill"), {"files": [{"filename": "a", "content_base64": "***"}]}, Account())
    assert caught.value.violations == [("files[0].content_base64", "is not valid base64")]
    with pytest.raises(InvalidArguments) as caught:
        build_request(_op("create_skill"), {"files": [{"filename": "a"}]}, Account())
    assert caught.value.violations[0][0] == "files[0]"


def test_a_whole_body_argument_is_sent_as_the_body_and_streams_use_the_stream_host() -> None:
    """attach_agent_mcp_server sends its config as the body; stream_session adds stream=true."""
    attach = build_request(
        _op("attach_agent_mcp_server"),
        {"agent_id": "a", "server_id": "s", "config": {"approval_mode": "write"}},
        Account(),
    )
    assert attach.method == "PUT" and attach.json_body == {"approval_mode": "write"}
    with pytest.raises(InvalidArguments) as caught:  # not a Gumloop approval mode
        validate_arguments(
            _op("attach_agent_mcp_server").input_schema,
            {"agent_id": "a", "server_id": "s", "config": {"approval_mode": "auto"}},
        )
    assert caught.value.violations[0][0] == "config.approval_mode"
    stream = build_request(_op("stream_session"), {"session_id": "s1"}, Account())
    assert stream.url == "http://127.0.0.1:9/ws/api/v1/sessions/s1"
    assert stream.params == [("stream", "true")]
    assert stream.headers["accept"] == "text/event-stream"


def test_arguments_report_bad_json_unknown_missing_and_wrong_types() -> None:
    """Each problem is a field violation a caller can act on."""
    with pytest.raises(InvalidArguments) as caught:
        parse_arguments("{nope")
    assert caught.value.violations[0][0] == "arguments_json"
    with pytest.raises(InvalidArguments):
        parse_arguments("[1]")
    assert parse_arguments("  ") == {}
    with pytest.raises(InvalidArguments) as caught:
        validate_arguments(_op("list_skills").input_schema, {"page_size": "ten", "colour": 1})
    fields = dict(caught.value.violations)
    assert fields["colour"].startswith("is not a known argument; expected one of:")
    assert fields["page_size"] == "must be of type integer, got string"
    with pytest.raises(InvalidArguments) as caught:
        validate_arguments(_op("get_agent").input_schema, {})
    assert caught.value.violations == [("agent_id", "is required")]
    with pytest.raises(InvalidArguments) as caught:
        validate_arguments(_op("call_mcp_tools").input_schema, {"calls": [{"server_id": "s"}]})
    assert caught.value.violations == [("calls[0].tool_name", "is required")]


@pytest.mark.parametrize("value", ["..", ".", ""])
def test_a_path_parameter_of_dots_or_nothing_is_refused_before_it_can_change_the_route(value: str) -> None:
    """`..`, `.` or an empty id would be resolved away by the URL layer (/agents/.. is /), so they fail."""
    with pytest.raises(InvalidArguments) as caught:
        build_request(_op("get_agent"), {"agent_id": value}, Account())
    assert caught.value.violations[0][0] == "agent_id"


def test_percent_signs_and_encoded_dots_stay_literal_in_a_path_segment() -> None:
    """`%2e%2e` and `..%2F` are sent percent-encoded again, so the server sees the literal text."""
    request = build_request(_op("get_agent"), {"agent_id": "%2e%2e"}, Account())
    assert request.url == "http://127.0.0.1:9/api/v1/agents/%252e%252e"
    request = build_request(_op("get_agent"), {"agent_id": "../x"}, Account())
    assert request.url == "http://127.0.0.1:9/api/v1/agents/..%2Fx"


def test_arguments_nested_past_the_parsers_depth_are_a_clear_field_violation() -> None:
    """A bomb of nested arrays is INVALID_ARGUMENT, not a RecursionError surfacing as INTERNAL."""
    deep = '{"agent_id": ' + "[" * 200_000 + "]" * 200_000 + "}"
    with pytest.raises(InvalidArguments) as caught:
        parse_arguments(deep)
    assert caught.value.violations[0][0] == "arguments_json"
    assert "nested" in caught.value.violations[0][1]


def test_arguments_deeper_than_64_levels_are_refused_and_64_pass() -> None:
    """Nesting the JSON decoder accepts but validation would recurse through is refused up front."""
    nested = parse_arguments('{"a": ' + "[" * 63 + "]" * 63 + "}")["a"]
    for _ in range(62):
        nested = nested[0]
    assert nested == []
    with pytest.raises(InvalidArguments):
        parse_arguments('{"a": ' + "[" * 900 + "]" * 900 + "}")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"temperature": NaN}', "temperature"),
        ('{"temperature": Infinity}', "temperature"),
        ('{"messages": [{"x": -Infinity}]}', "messages[0].x"),
        ('{"temperature": 1e999}', "temperature"),
    ],
)
def test_non_finite_numbers_are_refused_with_their_path(text: str, path: str) -> None:
    """NaN/Infinity (Python's JSON extensions) and overflowing numbers pass the schema but cannot be
    encoded for upstream: refused up front, naming the field, instead of failing in httpx."""
    with pytest.raises(InvalidArguments) as caught:
        parse_arguments(text)
    assert caught.value.violations == [
        (path, "must be a finite number (NaN, Infinity and overflowing numbers are not JSON)")
    ]


def test_strings_and_keys_with_lone_surrogates_are_refused_with_their_path() -> None:
    """A lone surrogate escape decodes to a str that cannot be encoded as UTF-8: refused, not INTERNAL."""
    with pytest.raises(InvalidArguments) as caught:
        parse_arguments('{"agent_id": "a\\ud800", "metadata": {"k": ["ok", "\\udfff"]}}')
    assert [path for path, _ in caught.value.violations] == ["agent_id", "metadata.k[1]"]
    assert "lone surrogate" in caught.value.violations[0][1]
    with pytest.raises(InvalidArguments) as caught:
        parse_arguments('{"metadata": {"\\ud800x": 1}}')
    ((path, why),) = caught.value.violations
    path.encode("utf-8")  # the path itself travels in the gRPC status
    assert path == "metadata.\\ud800x" and "key" in why
    # A proper surrogate pair is one character and passes.
    assert parse_arguments('{"name": "\\ud83d\\ude00"}') == {"name": "\U0001f600"}


def test_an_integer_too_long_to_read_is_a_field_violation() -> None:
    """Python refuses integers of more than 4300 digits with a ValueError: a violation, not INTERNAL."""
    with pytest.raises(InvalidArguments) as caught:
        parse_arguments('{"page_size": ' + "9" * 5000 + "}")
    assert caught.value.violations[0][0] == "arguments_json"


def test_integral_floats_are_sent_as_integers_where_the_schema_says_integer() -> None:
    """JSON Schema accepts 5.0 as an integer; Gumloop refuses page_size=5.0, so it goes as 5."""
    arguments = parse_arguments('{"page_size": 5.0, "cursor": "c"}')
    validate_arguments(_op("list_skills").input_schema, arguments)
    assert build_request(_op("list_skills"), arguments, Account()).params == [
        ("page_size", "5"),
        ("cursor", "c"),
    ]
    chat = {"model": "m", "messages": [{"role": "user"}], "max_completion_tokens": 100.0, "temperature": 1.0}
    validate_arguments(_op("create_chat_completion").input_schema, chat)
    body = build_request(_op("create_chat_completion"), chat, Account()).json_body
    assert body["max_completion_tokens"] == 100 and type(body["max_completion_tokens"]) is int
    assert type(body["temperature"]) is float  # a number stays a number


def test_integral_coercion_follows_the_schema_into_arrays_and_objects() -> None:
    """Nested integer fields are coerced; numbers, fractions and untyped values are left alone."""
    from services.gumloop_proxy.requests import integral

    schema = {
        "type": "object",
        "properties": {
            "ids": {"type": "array", "items": {"type": "integer"}},
            "window": {"type": "object", "properties": {"days": {"type": ["integer", "null"]}}},
            "ratio": {"type": "number"},
            "free": {},
        },
    }
    value = {"ids": [1.0, 2, 3.5], "window": {"days": 7.0, "other": 1.0}, "ratio": 2.0, "free": 4.0}
    out = integral(schema, value)
    assert out == {"ids": [1, 2, 3.5], "window": {"days": 7, "other": 1.0}, "ratio": 2.0, "free": 4.0}
    assert [type(v) for v in out["ids"]] == [int, int, float]
    assert type(out["window"]["days"]) is int and type(out["ratio"]) is float and type(out["free"]) is float
    assert integral(None, 3.0) == 3.0 and type(integral(None, 3.0)) is float


def test_the_filters_the_spec_confirms_are_placed_where_gumloop_reads_them() -> None:
    """list_sessions/list_skills filters in the query; chat and export options in the JSON body."""
    sessions = {"agent_id": "a", "creator_user_id": "u", "trigger_id": "t"}
    validate_arguments(_op("list_sessions").input_schema, sessions)
    assert build_request(_op("list_sessions"), sessions, Account()).params == [
        ("creator_user_id", "u"),
        ("trigger_id", "t"),
    ]
    skills = {"creator_user_id": "u", "related_server_id": "gumloop_slack", "unused": True}
    validate_arguments(_op("list_skills").input_schema, skills)
    assert build_request(_op("list_skills"), skills, Account()).params == [
        ("creator_user_id", "u"),
        ("related_server_id", "gumloop_slack"),
        ("unused", "true"),
    ]
    with pytest.raises(InvalidArguments) as caught:  # Gumloop reads any value as "on"
        validate_arguments(_op("list_skills").input_schema, {"unused": False})
    assert caught.value.violations[0][0] == "unused"
    chat = {
        "model": "m",
        "messages": [{"role": "user"}],
        "modalities": ["image", "text"],
        "image_config": {"size": "1024x1024"},
        "provider": {"sort": "price"},
    }
    validate_arguments(_op("create_chat_completion").input_schema, chat)
    assert build_request(_op("create_chat_completion"), chat, Account()).json_body == chat
    with pytest.raises(InvalidArguments):
        validate_arguments(_op("create_chat_completion").input_schema, {**chat, "modalities": ["audio"]})
    export = {
        "export_fields": ["log_id"],
        "start_date": "2026-01-01",
        "end_date": "2026-01-31",
        "category_filter": "AGENT_RUN",
        "include_all_workspaces": True,
        "include_personal_workspaces": False,
    }
    validate_arguments(_op("create_data_export").input_schema, export)
    body = build_request(_op("create_data_export"), export, Account()).json_body
    assert body == {**export, "user_id": "user_1"}


@pytest.mark.parametrize("length", [9_000, 70_000])
def test_an_over_long_path_parameter_is_refused_before_any_url_is_built(length: int) -> None:
    """The generic bound holds without any schema: the field is named, the value is not echoed."""
    with pytest.raises(InvalidArguments) as caught:
        build_request(_op("get_agent"), {"agent_id": "a" * length}, Account())
    [(name, why)] = caught.value.violations
    assert name == "agent_id"
    limit = MAX_PATH_SEGMENT_CHARS
    assert why == f"is too long for the URL: {length} characters once percent-encoded, at most {limit}"


def test_the_path_bound_counts_percent_encoding() -> None:
    """A short id of multi-byte characters grows ninefold once encoded: the encoded size is bounded."""
    build_request(_op("get_agent"), {"agent_id": "é" * (MAX_PATH_SEGMENT_CHARS // 6)}, Account())
    with pytest.raises(InvalidArguments) as caught:
        build_request(_op("get_agent"), {"agent_id": "é" * (MAX_PATH_SEGMENT_CHARS // 6 + 1)}, Account())
    assert caught.value.violations[0][0] == "agent_id"


def test_an_over_long_query_value_is_refused_naming_it() -> None:
    """A query value (or one item of a list) past MAX_QUERY_VALUE_CHARS names its field."""
    build_request(_op("list_agents"), {"search": "s" * MAX_QUERY_VALUE_CHARS}, Account())
    with pytest.raises(InvalidArguments) as caught:
        build_request(_op("list_agents"), {"search": "s" * (MAX_QUERY_VALUE_CHARS + 1)}, Account())
    assert [name for name, _ in caught.value.violations] == ["search"]


def test_path_and_query_together_are_bounded_naming_the_longest_argument() -> None:
    """Values each within bounds can still add up past MAX_URL_TARGET_CHARS: the longest is named."""
    arguments = {"search": "s" * 2000, "creator": "c" * 2040, "tool": "t" * 2000}
    build_request(_op("list_agents"), arguments, Account())
    with pytest.raises(InvalidArguments) as caught:
        build_request(_op("list_agents"), {**arguments, "flow": "f" * 1500}, Account())
    [(name, why)] = caught.value.violations
    assert name == "creator"
    assert why.endswith(f"at most {MAX_URL_TARGET_CHARS} for path and query together")


def test_catalog_path_parameters_carry_a_length_and_an_id_pattern() -> None:
    """Every path parameter's schema bounds its length and allows only id characters."""
    path_params = [
        (op.name, p.name, op.input_schema["properties"][p.name])
        for op in CATALOG.operations.values()
        for p in op.parameters
        if p.location == "path"
    ]
    assert path_params
    for op_name, name, schema in path_params:
        assert schema.get("maxLength") == 200, (op_name, name)
        assert schema.get("pattern") == "^[A-Za-z0-9][A-Za-z0-9_.:-]*$", (op_name, name)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a" * 70_000, "must be at most 200 characters long, got 70000"),
        ("a" * 9_000, "must be at most 200 characters long, got 9000"),
        ("a/../runs", "must match the pattern ^[A-Za-z0-9][A-Za-z0-9_.:-]*$"),
        ("..", "must match the pattern ^[A-Za-z0-9][A-Za-z0-9_.:-]*$"),
    ],
)
def test_schema_refusals_of_path_ids_name_the_field_without_echoing_it(value: str, expected: str) -> None:
    with pytest.raises(InvalidArguments) as caught:
        validate_arguments(_op("get_agent").input_schema, {"agent_id": value})
    assert caught.value.violations == [("agent_id", expected)]


@pytest.mark.parametrize("agent_id", ["abc123DEFghiJKL", "agent_456", "art_0a1b2c3d4e5f", "gumloop_slack"])
def test_id_shapes_from_gumloop_and_the_emulator_pass_the_pattern(agent_id: str) -> None:
    validate_arguments(_op("get_agent").input_schema, {"agent_id": agent_id})


def test_stream_host_posts_carry_their_fixed_body_and_no_team_id() -> None:
    """stream_new_session / stream_session_message send stream: true with the arguments, to the stream
    host, asking for server-sent events; the account's team_id stays off the stream host."""
    account = Account(team_id="team_1")
    created = build_request(_op("stream_new_session"), {"agent_id": "a1", "input": "hi"}, account)
    assert (created.method, created.url) == ("POST", "http://127.0.0.1:9/ws/api/v1/agents/a1/sessions")
    assert created.json_body == {"stream": True, "input": "hi"} and created.params == []
    assert created.headers["accept"] == "text/event-stream"
    answer = [{"action_request_id": "ar_1", "action": "accept"}]
    sent = build_request(
        _op("stream_session_message"), {"session_id": "s1", "approval_responses": answer}, account
    )
    assert sent.json_body == {"stream": True, "approval_responses": answer}


def test_an_artifact_password_is_a_write_only_secret_argument() -> None:
    """set_artifact_password marks its password writeOnly (format password) and sends it in the body only."""
    op = _op("set_artifact_password")
    schema = op.input_schema["properties"]["password"]
    assert schema["writeOnly"] is True and schema["format"] == "password"
    request = build_request(op, {"artifact_id": "ar_1", "password": "pw-1"}, Account())
    assert request.json_body == {"password": "pw-1"} and "pw-1" not in request.url + repr(request.params)


def test_a_refused_password_is_not_quoted_in_the_error() -> None:
    """A too-long password is refused by what was expected, never by echoing the value."""
    secret = "pw-" + "x" * 300
    with pytest.raises(InvalidArguments) as caught:
        validate_arguments(
            _op("set_artifact_password").input_schema, {"artifact_id": "ar_1", "password": secret}
        )
    assert caught.value.violations[0][0] == "password"
    assert secret not in str(caught.value) and secret not in repr(caught.value.violations)
