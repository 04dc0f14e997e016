"""Service tests for the management REST API against fake TokenService/ProxyService on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as ppb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as ppb_grpc
from gumloop_mcp.runtime import create_channel
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as tpb_grpc
from services.mcp_facade.management.management import ROUTES, create_admin_app
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.state.backends import Backends
from tests.fakes.token_service import MANAGEMENT, FakeTokens

GOOD = "gmcpat_good"
AUTH = {"Authorization": f"Bearer {GOOD}"}
# A management token bound to acct_1 (the token service's rules: bound tokens pass for their own
# account and for requests naming no account).
BOUND = "gmcpat_bound"
BOUND_AUTH = {"Authorization": f"Bearer {BOUND}"}


def management_tokens() -> FakeTokens:
    """The fake token service with GOOD (unbound) and BOUND (acct_1) management tokens."""
    tokens = FakeTokens()
    tokens.add_api_token("apit_1", token=GOOD, purposes=[MANAGEMENT])
    tokens.add_api_token("apit_b", token=BOUND, purposes=[MANAGEMENT], account_id="acct_1")
    return tokens


class FakeProxy(ppb_grpc.ProxyServiceServicer):
    """Accounts in a dict; remembers the last credential it was given; a two-operation catalog."""

    async def ListOperations(self, request: Any, context: Any) -> ppb.ListOperationsResponse:
        return ppb.ListOperationsResponse(
            operations=[
                ppb.Operation(
                    name="get_agent",
                    kind=ppb.OPERATION_KIND_GET,
                    resource="agent",
                    tags=["agents"],
                    description="Returns one agent (e.g. its name). Then more text.",
                ),
                ppb.Operation(name="delete_agent", kind=ppb.OPERATION_KIND_DELETE, resource="agent", tags=[]),
            ],
            catalog_version="c1",
        )

    def __init__(self) -> None:
        self.accounts: dict[str, ppb.IntegratedAccount] = {}
        self.credential: ppb.Credential | None = None

    async def CreateIntegratedAccount(
        self, request: Any, context: Any
    ) -> ppb.CreateIntegratedAccountResponse:
        account = ppb.IntegratedAccount()
        account.CopyFrom(request.account)
        account.id = account.id or "acct_1"
        account.credential_kind = request.credential.kind
        self.accounts[account.id] = account
        self.credential = request.credential
        return ppb.CreateIntegratedAccountResponse(account=account)

    async def GetIntegratedAccount(self, request: Any, context: Any) -> ppb.GetIntegratedAccountResponse:
        if request.account_id not in self.accounts:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such account")
        return ppb.GetIntegratedAccountResponse(account=self.accounts[request.account_id])

    async def ListIntegratedAccounts(self, request: Any, context: Any) -> ppb.ListIntegratedAccountsResponse:
        return ppb.ListIntegratedAccountsResponse(accounts=list(self.accounts.values()))


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTokens, FakeProxy, TestClient[Any, Any]]]:
    """The admin app over fake backends served by real grpc.aio servers."""
    tokens, proxy = management_tokens(), FakeProxy()  # type: ignore[abstract]
    server = grpc.aio.server()
    tpb_grpc.add_TokenServiceServicer_to_server(tokens, server)
    ppb_grpc.add_ProxyServiceServicer_to_server(proxy, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = create_channel(f"127.0.0.1:{port}")
    backends = Backends(tpb_grpc.TokenServiceStub(channel), ppb_grpc.ProxyServiceStub(channel))
    settings = FacadeSettings(public_base_url="https://mcp.example.test")
    client = TestClient(TestServer(create_admin_app(settings, backends), host="127.0.0.1"))
    await client.start_server()
    try:
        yield tokens, proxy, client
    finally:
        await client.close()
        await channel.close()
        await server.stop(0)


Fakes = tuple[FakeTokens, FakeProxy, TestClient[Any, Any]]


async def test_creating_an_mcp_server_returns_201_with_a_tokened_url(fakes: Fakes) -> None:
    """POST .../mcp answers 201 with id, config, expiry and url = public base + /mcp/<token>."""
    _, _, client = fakes
    resp = await client.post(
        "/integrated-account/acct_1/mcp",
        json={"name": "ro", "config": {"methods": ["read"]}, "expires_at": "2030-01-01T00:00:00Z"},
        headers=AUTH,
    )
    body = await resp.json()
    assert resp.status == 201
    assert body["url"] == "https://mcp.example.test/mcp/gmcp_secret_mcp_1"
    assert body["config"] == {
        "methods": ["read"],
        "tags": [],
        "tool_exposure": "default",
        "context_budget_tokens": 0,
        "audit_payloads": False,
        "oauth_allowed_emails": [],
        "oauth_allowed_domains": [],
        "oauth_allowed_groups": [],
    }
    assert body["expires_at"].startswith("2030-01-01T00:00:00")


async def test_missing_or_wrong_api_token_gets_401_with_www_authenticate(fakes: Fakes) -> None:
    """No bearer and a wrong bearer are both 401 with a WWW-Authenticate header."""
    _, _, client = fakes
    for headers in ({}, {"Authorization": "Bearer gmcpat_wrong"}):
        resp = await client.get("/integrated-account/acct_1/mcp", headers=headers)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await resp.json())["error"]["code"] == "unauthenticated"


async def test_backend_field_violations_become_400_fields(fakes: Fakes) -> None:
    """INVALID_ARGUMENT field violations come back as error.fields in REST names."""
    _, _, client = fakes
    resp = await client.post(
        "/integrated-account/acct_1/mcp", json={"name": "x", "config": {"methods": ["bogus"]}}, headers=AUTH
    )
    assert resp.status == 400
    fields = (await resp.json())["error"]["fields"]
    assert fields == [{"field": "config.methods[0]", "description": "unknown method 'bogus'"}]


async def test_an_aborted_update_is_409_to_retry(fakes: Fakes) -> None:
    """ABORTED (the token service gave up on a contended scope update) is 409 aborted, not a 500."""
    _, _, client = fakes
    created = await client.post("/integrated-account/acct_1/mcp", json={"name": "x"}, headers=AUTH)
    mcp_id = (await created.json())["id"]
    resp = await client.patch(
        f"/integrated-account/acct_1/mcp/{mcp_id}", json={"name": "contended"}, headers=AUTH
    )
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "aborted" and "retry" in error["message"]


async def test_body_validation_errors_are_400_with_fields(fakes: Fakes) -> None:
    """An empty name, bad JSON and unknown fields are 400 before any backend call."""
    tokens, _, client = fakes
    resp = await client.post("/integrated-account/acct_1/mcp", json={"name": "", "x": 1}, headers=AUTH)
    fields = {f["field"] for f in (await resp.json())["error"]["fields"]}
    assert resp.status == 400 and fields == {"name", "x"}
    resp = await client.post("/integrated-account/acct_1/mcp", data=b"{nope", headers=AUTH)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"
    assert tokens.servers == {}


async def test_get_patch_delete_then_404(fakes: Fakes) -> None:
    """A server can be read, patched, deleted, and is then 404."""
    _, _, client = fakes
    created = await (
        await client.post("/integrated-account/acct_1/mcp", json={"name": "a"}, headers=AUTH)
    ).json()
    path = f"/integrated-account/acct_1/mcp/{created['id']}"
    got = await (await client.get(path, headers=AUTH)).json()
    assert got["name"] == "a" and got["url"] is None
    patched = await client.patch(path, json={"name": "b", "require_api_token_auth": True}, headers=AUTH)
    body = await patched.json()
    assert patched.status == 200 and body["name"] == "b" and body["require_api_token_auth"] is True
    assert (await client.delete(path, headers=AUTH)).status == 204
    missing = await client.get(path, headers=AUTH)
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "not_found"


async def test_a_server_of_another_account_is_404(fakes: Fakes) -> None:
    """Reading a server through the wrong account's path does not reveal it."""
    _, _, client = fakes
    created = await (
        await client.post("/integrated-account/acct_1/mcp", json={"name": "a"}, headers=AUTH)
    ).json()
    resp = await client.get(f"/integrated-account/acct_2/mcp/{created['id']}", headers=AUTH)
    assert resp.status == 404


async def test_listing_pages_with_limit_and_next_cursor(fakes: Fakes) -> None:
    """limit=2 over three servers gives a cursor, and the cursor gives the last one."""
    _, _, client = fakes
    for name in "abc":
        await client.post("/integrated-account/acct_1/mcp", json={"name": name}, headers=AUTH)
    first = await (await client.get("/integrated-account/acct_1/mcp?limit=2", headers=AUTH)).json()
    assert [s["name"] for s in first["result"]] == ["a", "b"] and first["next_cursor"]
    url = f"/integrated-account/acct_1/mcp?limit=2&next_cursor={first['next_cursor']}"
    second = await (await client.get(url, headers=AUTH)).json()
    assert [s["name"] for s in second["result"]] == ["c"] and second["next_cursor"] is None
    bad = await client.get("/integrated-account/acct_1/mcp?limit=500", headers=AUTH)
    assert bad.status == 400 and (await bad.json())["error"]["fields"][0]["field"] == "limit"


async def test_creating_an_account_never_echoes_the_secret(fakes: Fakes) -> None:
    """The api_key reaches the proxy as an API-key credential and is absent from the response."""
    _, proxy, client = fakes
    resp = await client.post(
        "/integrated-account",
        json={"display_name": "Mine", "api_key": "sk-very-secret", "user_id": "u1"},
        headers=AUTH,
    )
    text = await resp.text()
    assert resp.status == 201 and "sk-very-secret" not in text
    assert proxy.credential is not None and proxy.credential.secret == "sk-very-secret"
    assert proxy.credential.kind == ppb.CREDENTIAL_KIND_API_KEY
    assert (await resp.json())["credential_kind"] == "api_key"


async def test_api_token_creation_returns_the_token_once(fakes: Fakes) -> None:
    """POST /api-tokens answers 201 with the raw token and the chosen purposes."""
    _, _, client = fakes
    resp = await client.post("/api-tokens", json={"name": "ci", "purpose": ["management"]}, headers=AUTH)
    body = await resp.json()
    assert resp.status == 201 and body["token"] == "gmcpat_new" and body["purpose"] == ["management"]


async def test_openapi_lists_every_route_and_validates(fakes: Fakes) -> None:
    """GET /openapi.json (no auth) is a valid OpenAPI 3.1 document covering the route table."""
    _, _, client = fakes
    resp = await client.get("/openapi.json")
    document = await resp.json()
    assert resp.status == 200
    validate(document)
    listed = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert listed == {(r.method, r.path) for r in ROUTES}
    assert len(listed) >= 13


async def test_backends_down_give_503(fakes: Fakes) -> None:
    """With the backend gone, a request answers 503 rather than hanging or crashing."""
    tokens, _, client = fakes
    settings = FacadeSettings()
    channel = create_channel("127.0.0.1:1")
    backends = Backends(tpb_grpc.TokenServiceStub(channel), ppb_grpc.ProxyServiceStub(channel))
    down = TestClient(TestServer(create_admin_app(settings, backends), host="127.0.0.1"))
    await down.start_server()
    try:
        resp = await down.get("/integrated-account", headers=AUTH)
        assert resp.status == 503
    finally:
        await down.close()
        await channel.close()


async def test_an_account_bound_token_cannot_use_routes_outside_its_account(fakes: Fakes) -> None:
    """A token bound to acct_1 works under /integrated-account/acct_1 but gets 403 on global routes."""
    _, _, client = fakes
    own = await client.post("/integrated-account/acct_1/mcp", json={"name": "a"}, headers=BOUND_AUTH)
    assert own.status == 201
    other = await client.get("/integrated-account/acct_2/mcp", headers=BOUND_AUTH)
    assert other.status == 401
    escalate = await client.post(
        "/api-tokens", json={"name": "root", "purpose": ["management"]}, headers=BOUND_AUTH
    )
    assert escalate.status == 403
    assert (await escalate.json())["error"]["code"] == "permission_denied"
    for method, path in (("GET", "/integrated-account"), ("GET", "/api-tokens"), ("DELETE", "/api-tokens/x")):
        resp = await client.request(method, path, headers=BOUND_AUTH)
        assert resp.status == 403, (method, path)
    created = await client.post(
        "/integrated-account", json={"display_name": "x", "api_key": "k", "user_id": "u"}, headers=BOUND_AUTH
    )
    assert created.status == 403


async def test_a_missing_server_and_another_accounts_server_answer_alike(fakes: Fakes) -> None:
    """The 404 for another account's server is the same as for one that does not exist."""
    _, _, client = fakes
    created = await (
        await client.post("/integrated-account/acct_1/mcp", json={"name": "a"}, headers=AUTH)
    ).json()
    theirs = await client.get(f"/integrated-account/acct_2/mcp/{created['id']}", headers=AUTH)
    missing = await client.get("/integrated-account/acct_2/mcp/mcp_999", headers=AUTH)
    assert theirs.status == missing.status == 404
    theirs_body, missing_body = await theirs.json(), await missing.json()
    assert theirs_body["error"]["message"] == missing_body["error"]["message"]
    assert created["id"] not in theirs_body["error"]["message"]


async def test_a_nesting_bomb_body_is_a_400_not_a_500(fakes: Fakes) -> None:
    """JSON nested past the decoder's depth is refused as invalid JSON."""
    _, _, client = fakes
    bomb = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    resp = await client.post(
        "/integrated-account/acct_1/mcp",
        data=bomb,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"


async def test_rotate_passes_a_bounded_grace_period_and_defaults_to_none(fakes: Fakes) -> None:
    """No body is grace 0; {"grace_period_seconds": 30} reaches the token service; bad values are 400."""
    tokens, _, client = fakes
    created = await (
        await client.post("/integrated-account/acct_1/mcp", json={"name": "a"}, headers=AUTH)
    ).json()
    path = f"/integrated-account/acct_1/mcp/{created['id']}/rotate"
    plain = await client.post(path, headers=AUTH)
    assert plain.status == 200 and (await plain.json())["url"].endswith("/mcp/gmcp_rotated_mcp_1")
    graced = await client.post(path, json={"grace_period_seconds": 30}, headers=AUTH)
    assert graced.status == 200
    assert (await graced.json())["old_url_expires_at"].startswith("2033-05-18T03:33:50")
    assert tokens.rotations == [0, 30]
    for bad in (86_401, -1, "30", True, None):
        resp = await client.post(path, json={"grace_period_seconds": bad}, headers=AUTH)
        assert resp.status == 400, bad
        assert [f["field"] for f in (await resp.json())["error"]["fields"]] == ["grace_period_seconds"]
    unknown = await client.post(path, json={"grace": 30}, headers=AUTH)
    assert unknown.status == 400 and tokens.rotations == [0, 30]


async def test_booleans_are_strict_and_null_only_where_documented(fakes: Fakes) -> None:
    """ "no"/"yes"/1 are not booleans; null is refused for fields the schema says are never null."""
    tokens, _, client = fakes
    for value in ("no", "yes", 1, "true"):
        resp = await client.post(
            "/integrated-account/acct_1/mcp",
            json={"name": "a", "require_api_token_auth": value},
            headers=AUTH,
        )
        assert resp.status == 400, value
        assert (await resp.json())["error"]["fields"][0]["field"] == "require_api_token_auth"
    assert tokens.servers == {}
    created = await (
        await client.post("/integrated-account/acct_1/mcp", json={"name": "a"}, headers=AUTH)
    ).json()
    path = f"/integrated-account/acct_1/mcp/{created['id']}"
    for body in ({"name": None}, {"require_api_token_auth": None}, {"config": None}):
        resp = await client.patch(path, json=body, headers=AUTH)
        assert resp.status == 400, body
    cleared = await client.patch(path, json={"expires_at": None}, headers=AUTH)  # documented as nullable
    assert cleared.status == 200


async def test_the_catalog_is_published_to_any_management_token(fakes: Fakes) -> None:
    """GET /catalog answers groups, tags and operations (one line each), for bound tokens too."""
    _, _, client = fakes
    for headers in (AUTH, BOUND_AUTH):
        resp = await client.get("/catalog", headers=headers)
        assert resp.status == 200
        catalog = await resp.json()
        assert catalog["tags"] == ["agents"] and set(catalog["method_groups"]) == {"read", "write", "custom"}
        assert catalog["operations"] == [
            {
                "name": "get_agent",
                "tool_name": "get_single_gumloop_agent_by_id",
                "kind": "read",
                "operation_kind": "get",
                "tags": ["agents"],
                "description": "Returns one agent (e.g. its name).",
            },
            {
                "name": "delete_agent",
                "tool_name": "delete_a_gumloop_agent_by_id",
                "kind": "write",
                "operation_kind": "delete",
                "tags": [],
                "description": "delete agent",
            },
        ]
    assert (await client.get("/catalog")).status == 401


async def test_unknown_routes_and_methods_answer_the_json_error_envelope(fakes: Fakes) -> None:
    """aiohttp's own 404 and 405 are JSON errors (405 keeps its Allow header); so is a malformed id."""
    _, _, client = fakes
    missing = await client.get("/nope", headers=AUTH)
    assert missing.status == 404 and missing.content_type == "application/json"
    assert (await missing.json())["error"]["code"] == "not_found"
    wrong = await client.put("/api-tokens", headers=AUTH)
    assert wrong.status == 405 and wrong.content_type == "application/json"
    assert "GET" in wrong.headers["Allow"] and (await wrong.json())["error"]["code"] == "method_not_allowed"
    odd = await client.get("/integrated-account/%C3%A9t%C3%A9/mcp", headers=AUTH)
    assert odd.status == 404 and (await odd.json())["error"]["code"] == "not_found"


async def test_the_admin_port_checks_host_and_origin(fakes: Fakes) -> None:
    """On loopback: another Host (or a userinfo trick) is 421, another Origin 403, on /openapi.json too."""
    _, _, client = fakes
    port = client.port
    assert (await client.get("/openapi.json", headers={"Host": f"127.0.0.1:{port}"})).status == 200
    for host in ("evil.example", f"127.0.0.1:{port}@evil.example", "localhost:1:2"):
        resp = await client.get("/openapi.json", headers={"Host": host})
        assert resp.status == 421, host
        assert (await resp.json())["error"]["code"] == "misdirected_request"
    for origin in ("http://evil.example", f"http://127.0.0.1:{port}@evil.example", "null"):
        resp = await client.get("/openapi.json", headers={"Origin": origin})
        assert resp.status == 403, origin
    assert (await client.get("/openapi.json", headers={"Origin": f"http://localhost:{port}"})).status == 200


async def test_the_admin_allow_lists_replace_the_loopback_rule() -> None:
    """With GMCP_FACADE_ADMIN_ALLOWED_HOSTS/_ORIGINS set, exactly those pass."""
    settings = FacadeSettings(
        admin_host="0.0.0.0",
        admin_allowed_hosts=["admin.example.test"],
        admin_allowed_origins=["https://console.example.test"],
    )
    channel = create_channel("127.0.0.1:1")
    backends = Backends(tpb_grpc.TokenServiceStub(channel), ppb_grpc.ProxyServiceStub(channel))
    client = TestClient(TestServer(create_admin_app(settings, backends), host="127.0.0.1"))
    await client.start_server()
    try:
        ok = {"Host": "admin.example.test:8081", "Origin": "https://console.example.test"}
        assert (await client.get("/openapi.json", headers=ok)).status == 200
        assert (await client.get("/openapi.json", headers={"Host": "127.0.0.1"})).status == 421
        bad_origin = {"Host": "admin.example.test", "Origin": "http://localhost"}
        assert (await client.get("/openapi.json", headers=bad_origin)).status == 403
    finally:
        await client.close()
        await channel.close()


async def test_the_scope_preview_lists_the_tools_and_their_cost(fakes: Fakes) -> None:
    """POST /catalog/preview: the tools in scope (name, kind, one line, tokens); unknown tags are a 400."""
    _, _, client = fakes
    for headers in (AUTH, BOUND_AUTH):
        resp = await client.post("/catalog/preview", json={"methods": ["read"]}, headers=headers)
        assert resp.status == 200
        body = await resp.json()
        assert [(t["name"], t["kind"], t["description"]) for t in body["tools"]] == [
            ("get_single_gumloop_agent_by_id", "read", "Returns one agent (e.g. its name).")
        ]
        assert body["tool_list_tokens"] == body["tools"][0]["tokens"] > 30
        assert body["exposure"] == "full" and body["catalog_version"] == "c1"
    resp = await client.post("/catalog/preview", json={"tags": ["nope"]}, headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["error"]["fields"][0]["field"] == "tags"
    assert (await client.post("/catalog/preview", json={})).status == 401
