"""Unit tests: account validation, public views and page tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.gumloop_proxy import errors
from services.gumloop_proxy.accounts import (
    NewAccount,
    decode_page_token,
    encode_page_token,
    generate_account_id,
    new_account_from_proto,
    stored_from_new,
)
from services.gumloop_proxy.settings import ProxySettings

SETTINGS = ProxySettings(default_account_concurrency=8)


def _request(**account) -> pb.CreateIntegratedAccountRequest:
    credential = account.pop("credential", pb.Credential(kind=pb.CREDENTIAL_KIND_API_KEY, secret="gk_secret"))
    account.setdefault("user_id", "user_1")
    return pb.CreateIntegratedAccountRequest(account=pb.IntegratedAccount(**account), credential=credential)


def test_generated_ids_have_the_documented_shape():
    """Ids are acc_ plus 22 url-safe characters, all distinct."""
    ids = {generate_account_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("acc_") and len(i) == 26 for i in ids)


def test_valid_request_gets_settings_defaults():
    """Base URLs and concurrency default from settings."""
    spec = new_account_from_proto(_request(display_name="Main"), SETTINGS)
    assert spec.kind == "api_key" and spec.secret_value.get_secret_value() == "gk_secret"
    assert spec.api_base_url == SETTINGS.default_api_base_url
    assert spec.stream_base_url == SETTINGS.default_stream_base_url
    assert spec.max_concurrency == 8


def test_every_problem_is_a_field_violation():
    """Empty secret, API key without user, bad URLs, long names and negative concurrency are all named."""
    request = _request(
        user_id="",
        display_name="x" * 201,
        api_base_url="ftp://host/x",
        stream_base_url="not a url",
        max_concurrency=-1,
        credential=pb.Credential(kind=pb.CREDENTIAL_KIND_API_KEY, secret="  "),
    )
    with pytest.raises(errors.InvalidArguments) as caught:
        new_account_from_proto(request, SETTINGS)
    fields = {f for f, _ in caught.value.violations}
    assert fields == {
        "account.display_name",
        "account.user_id",
        "credential.secret",
        "account.api_base_url",
        "account.stream_base_url",
        "account.max_concurrency",
    }
    with pytest.raises(errors.InvalidArguments) as caught:
        new_account_from_proto(_request(user_id=""), SETTINGS)
    assert [f for f, _ in caught.value.violations] == ["account.user_id"]


def test_oauth_needs_no_user_and_unknown_kind_is_refused():
    """OAuth tokens need no user id; an unspecified kind is a violation."""
    oauth = pb.Credential(kind=pb.CREDENTIAL_KIND_OAUTH_ACCESS_TOKEN, secret="tok")
    assert new_account_from_proto(_request(user_id="", credential=oauth), SETTINGS).kind == "oauth"
    with pytest.raises(errors.InvalidArguments) as caught:
        new_account_from_proto(_request(credential=pb.Credential(secret="s")), SETTINGS)
    assert caught.value.violations[0][0] == "credential.kind"


def test_public_view_and_repr_never_show_the_secret():
    """to_proto and repr carry no secret; the credential view keeps the proto kind."""
    spec = NewAccount(
        display_name="Main",
        credential_kind=pb.CREDENTIAL_KIND_API_KEY,
        secret="gk_topsecret",
        user_id="u",
        team_id="t",
        project_id="",
        api_base_url="https://api.example.test/api/v1",
        stream_base_url="https://ws.example.test/api/v1",
        max_concurrency=3,
    )
    stored = stored_from_new(spec, "acc_x", datetime(2026, 1, 2, tzinfo=UTC))
    message = stored.to_proto()
    assert "gk_topsecret" not in str(message) and "gk_topsecret" not in message.SerializeToString().decode(
        "latin-1"
    )
    assert message.id == "acc_x" and message.credential_kind == pb.CREDENTIAL_KIND_API_KEY
    assert message.create_time.ToDatetime(tzinfo=UTC) == datetime(2026, 1, 2, tzinfo=UTC)
    assert "gk_topsecret" not in repr(stored) and "gk_topsecret" not in repr(spec)
    assert stored.credential.kind == pb.CREDENTIAL_KIND_API_KEY
    assert stored.credential.secret == SecretStr("gk_topsecret")


def test_page_tokens_round_trip_and_foreign_tokens_are_refused():
    """Our tokens decode; anything else is an INVALID_ARGUMENT on page_token."""
    key = f"{123:020d}:acc_x"
    assert decode_page_token(encode_page_token(key)) == key
    for bad in ["garbage", encode_page_token("1:acc"), "!!!"]:
        with pytest.raises(errors.InvalidArguments) as caught:
            decode_page_token(bad)
        assert caught.value.violations[0][0] == "page_token"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/api/v1",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
    ],
)
def test_a_base_url_at_a_metadata_or_link_local_address_is_refused_unless_allowed(url: str) -> None:
    """Cloud metadata endpoints are refused as base URLs; the setting lets a deliberate one through."""
    with pytest.raises(errors.InvalidArguments) as caught:
        new_account_from_proto(_request(api_base_url=url), SETTINGS)
    assert caught.value.violations[0][0] == "account.api_base_url"
    assert "ALLOW_LINK_LOCAL_UPSTREAM" in caught.value.violations[0][1]
    allowing = ProxySettings(allow_link_local_upstream=True)
    assert new_account_from_proto(_request(api_base_url=url), allowing).api_base_url == url.rstrip("/")


def test_loopback_and_private_base_urls_stay_allowed_and_an_allow_list_narrows_hosts() -> None:
    """The emulator on loopback works; upstream_allowed_hosts refuses every other host."""
    for url in ("http://127.0.0.1:8080/api/v1", "http://10.0.0.7/api/v1", "https://api.gumloop.com/api/v1"):
        new_account_from_proto(_request(api_base_url=url), SETTINGS)
    narrow = ProxySettings(upstream_allowed_hosts=["api.gumloop.com", "ws.gumloop.com"])
    assert new_account_from_proto(_request(), narrow).api_base_url == "https://api.gumloop.com/api/v1"
    with pytest.raises(errors.InvalidArguments) as caught:
        new_account_from_proto(_request(stream_base_url="http://127.0.0.1:9/ws"), narrow)
    assert caught.value.violations == [
        ("account.stream_base_url", "names a host outside GMCP_PROXY_UPSTREAM_ALLOWED_HOSTS")
    ]


def test_ids_that_travel_in_headers_or_queries_must_be_printable_one_line_text() -> None:
    """user_id goes out as the x-auth-key header: CR, LF or other control characters are refused."""
    with pytest.raises(errors.InvalidArguments) as caught:
        new_account_from_proto(
            _request(user_id="u1\r\nx-evil: 1", team_id="t\x00", project_id="p\tq"), SETTINGS
        )
    fields = [name for name, _ in caught.value.violations]
    assert fields == ["account.user_id", "account.team_id", "account.project_id"]
