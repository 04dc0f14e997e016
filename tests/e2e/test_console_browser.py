"""The admin console in a real browser (Playwright driving Debian's chromium) on the real stack.

The founding flow: sign in -> account -> MCP Servers -> create with methods `read` and a tag -> the
live preview -> submit -> copy the URL -> the official MCP client lists exactly the previewed tools;
then edit, rotate (the old URL stops) and revoke (the URL stops). axe-core finds no serious or critical
accessibility violation on the main pages, which are also saved as docs/console/*.png. The activity
view shows real tool calls, its filters narrow them and its CSV export has the rows; an account whose
key Gumloop refuses shows as needing reconnection.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from .conftest import ROOT, Stack
from .test_approvals import client_for
from .test_system import STATUS_TOOL

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / ".cache" / "node-tools" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "docs" / "console"
T = TypeVar("T")


def _need(path: Path, how: str) -> None:
    if path.exists():
        return
    reason = f"{path} is missing: {how}"
    if os.environ.get("GMCP_REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"GMCP_REQUIRE_INTEGRATION=1 and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium (Playwright's own browser download is not used)."""
    _need(CHROMIUM, "run scripts/ensure-chromium")
    _need(AXE, "run scripts/ensure-node-tools")
    with playwright_sync.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


def _context(browser: Any, stack: Stack) -> Any:
    # bypass_csp only lets the test inject axe-core; the page's own CSP is checked separately.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.admin)
    context.set_default_timeout(20_000)
    return context


def _axe(page: Any) -> None:
    """No serious or critical axe-core violation on the current page."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: {bad}"


def _shot(page: Any, name: str, *, mask: list[Any] | None = None) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, mask=mask or [])


def _sign_in(page: Any, stack: Stack) -> None:
    page.goto(f"{stack.admin}/console/")
    assert page.url.endswith("/console/login")
    page.fill("#token", stack.ready["api_token"])
    page.click("form:has(#token) button[type=submit]")  # with an identity provider, the page has two forms
    page.wait_for_url("**/console/accounts")


async def _tool_names(url: str) -> list[str]:
    async with client_for(url) as client:
        return [t.name for t in (await client.list_tools()).tools]


async def _refused(url: str) -> bool:
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.post(
            url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            },
            headers={"Accept": "application/json, text/event-stream"},
        )
        return resp.status_code in (401, 403, 404)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run the official MCP client in its own thread: Playwright's sync API holds this thread's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


def _pick_tag(stack: Stack) -> str:
    """A tag that, with methods read, admits some but not all read tools."""
    with httpx.Client(base_url=stack.admin, headers=stack.auth, timeout=30) as http:
        catalog = http.get("/catalog").json()
        every = len(http.post("/catalog/preview", json={"methods": ["read"]}).json()["tools"])
        for tag in catalog["tags"]:
            n = len(http.post("/catalog/preview", json={"methods": ["read"], "tags": [tag]}).json()["tools"])
            if 0 < n < every:
                return str(tag)
    raise AssertionError("the emulator's catalog has a tag narrowing the read tools")


def test_the_founding_flow_in_the_browser(browser: Any, stack: Stack) -> None:
    """Create a server (read + a tag) with the live preview; its URL lists exactly the previewed tools;
    edit, rotate and revoke it; every main page passes axe-core."""
    tag = _pick_tag(stack)
    account_id = stack.ready["account_id"]
    context = _context(browser, stack)
    page = context.new_page()
    _sign_in(page, stack)
    _axe(page)
    _shot(page, "accounts")

    page.click(f"a[href='/console/accounts/{account_id}/mcp']")
    page.wait_for_url(f"**/console/accounts/{account_id}/mcp")
    page.click("text=Create MCP Server")
    page.wait_for_url("**/mcp/new")
    page.fill("#name", "Read agents")
    page.check("input[name=method][value=read]")
    settled = "form[data-preview]:not([aria-busy])"  # the script marks the form busy until the latest answer
    page.wait_for_selector(settled)
    all_read = page.locator("#preview-tools tbody tr").count()
    page.check(f"input[name=tag][value='{tag}']")
    page.wait_for_selector(settled)
    assert 0 < page.locator("#preview-tools tbody tr").count() < all_read
    previewed = page.locator("#preview-tools tbody tr td:first-child").all_inner_texts()
    assert previewed and "model tokens" in page.inner_text("#preview-summary")
    assert page.locator("#submit").is_enabled()
    page.check("input[name=expiry][value='1d']")
    _axe(page)
    _shot(page, "create")

    page.click("#submit")
    page.wait_for_selector("#mcp-url")
    url = page.input_value("#mcp-url")
    assert "/mcp/gmcp_" in url
    page.click("button[data-copy=mcp-url]")
    assert page.evaluate("() => navigator.clipboard.readText()") == url
    page.click("button[data-copy=claude-config]")
    snippet = page.evaluate("() => navigator.clipboard.readText()")
    assert (
        "mcp-remote" in snippet
        and "Authorization:${AUTH_HEADER}" in snippet
        and url.rsplit("/", 1)[1] in snippet
    )
    assert "Add custom connector" in page.content()
    _axe(page)
    _shot(page, "created", mask=[page.locator("#mcp-url"), page.locator("#claude-config")])
    assert _run(_tool_names(url)) == previewed

    # Afterwards only the prefix: the list and the edit page never show the URL again.
    page.goto(f"{stack.admin}/console/accounts/{account_id}/mcp")
    assert url.rsplit("/", 1)[1] not in page.content()
    _axe(page)
    _shot(page, "servers")
    row = page.locator("tr", has_text="Read agents")
    row.locator("text=Edit").click()
    page.fill("#name", "Read agents (edited)")
    page.click("#submit")
    page.wait_for_selector("text=Changes saved.")
    assert page.input_value("#name") == "Read agents (edited)"

    page.click("text=Rotate…")
    page.select_option("#grace", "0")
    page.click("button:has-text('Rotate')")
    page.wait_for_selector("#mcp-url")
    new_url = page.input_value("#mcp-url")
    assert new_url != url
    assert _run(_refused(url)), "the old URL stops at once with no grace"
    assert _run(_tool_names(new_url)) == previewed

    page.goto(f"{stack.admin}/console/accounts/{account_id}/mcp")
    page.locator("tr", has_text="Read agents (edited)").locator("text=Revoke…").click()
    _axe(page)
    page.click("button:has-text('Revoke the server')")
    page.wait_for_selector("text=its URL no longer works")
    assert page.locator("tr", has_text="Read agents (edited)").count() == 0
    assert _run(_refused(new_url))
    context.close()
    logs = stack.logs()
    assert url.rsplit("/", 1)[1] not in logs and new_url.rsplit("/", 1)[1] not in logs


def _create(page: Any, stack: Stack, name: str, factor: str) -> tuple[str, str, str]:
    """Create a read server with `factor` as its second factor; the shown-once page's URL, Claude
    Desktop snippet (through the copy button) and connection card text."""
    page.goto(f"{stack.admin}/console/accounts/{stack.ready['account_id']}/mcp/new")
    page.fill("#name", name)
    page.check("input[name=method][value=read]")
    page.check(f"input[name=second_factor][value={factor}]")
    if factor == "oauth":
        page.fill("#allow_domains", "example.com")
    page.wait_for_selector("form[data-preview]:not([aria-busy])")
    page.click("#submit")
    page.wait_for_selector("#mcp-url")
    assert page.get_attribute("#connect", "data-second-factor") == factor
    page.click("button[data-copy=claude-config]")
    snippet = page.evaluate("() => navigator.clipboard.readText()")
    return page.input_value("#mcp-url"), snippet, page.inner_text("#connect")


def test_the_shown_once_page_fits_each_second_factor(browser: Any, stack: Stack) -> None:
    """None: the header snippet and the connector steps. API token: both headers, no connector (it
    cannot send them). OAuth: the connector steps with the URL only and a Desktop snippet with no
    header at all (sign-in happens in the browser)."""
    context = _context(browser, stack)
    page = context.new_page()
    _sign_in(page, stack)

    url, snippet, card = _create(page, stack, "Factor none", "none")
    token = url.rsplit("/", 1)[1]
    args = json.loads(snippet)["mcpServers"]["gumloop-factor-none"]["args"]
    assert "Authorization:${AUTH_HEADER}" in args and url not in args and token in snippet
    assert "X-Gumloop-MCP-API-Token" not in snippet
    assert "Add custom connector" in card and page.locator("#no-connector").count() == 0

    url, snippet, card = _create(page, stack, "Factor api token", "api_token")
    entry = json.loads(snippet)["mcpServers"]["gumloop-factor-api-token"]
    assert "Authorization:${AUTH_HEADER}" in entry["args"]
    assert "X-Gumloop-MCP-API-Token:${GUMLOOP_MCP_API_TOKEN}" in entry["args"]
    assert entry["env"]["GUMLOOP_MCP_API_TOKEN"] == "<paste an API token for MCP clients here>"
    assert page.locator("#connector-steps").count() == 0
    assert "cannot send the API-token header" in page.inner_text("#no-connector")

    url, snippet, card = _create(page, stack, "Factor oauth", "oauth")
    entry = json.loads(snippet)["mcpServers"]["gumloop-factor-oauth"]
    assert entry == {"command": "npx", "args": ["-y", "mcp-remote@0.15.1", url]}  # no header, no env
    steps = page.inner_text("#connector-steps")
    assert "Add custom connector" in steps and "paste the URL above" in steps and "sign-in page" in steps
    assert "Authorization" not in card and "X-Gumloop-MCP-API-Token" not in card
    assert "example.com" in page.inner_text("#allowed-set")
    _axe(page)
    _shot(page, "created-oauth", mask=[page.locator("#mcp-url"), page.locator("#claude-config")])
    context.close()
    # The URL alone asks for the sign-in the page describes.
    with httpx.Client(timeout=30) as http:
        bare = http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                         headers={"Accept": "application/json, text/event-stream"})  # fmt: skip
    assert bare.status_code == 401 and "resource_metadata=" in bare.headers["WWW-Authenticate"]


def test_api_tokens_and_accounts_in_the_browser(browser: Any, stack: Stack) -> None:
    """An API token is shown once and revoked; an account is connected and deleted (saying what stops)."""
    context = _context(browser, stack)
    page = context.new_page()
    _sign_in(page, stack)
    page.goto(f"{stack.admin}/console/api-tokens")
    page.fill("#token-name", "colleague")
    page.check("input[name=purpose][value=management]")
    page.click("button:has-text('Create API token')")
    token = page.input_value("#new-token")
    assert token.startswith("gmcpat_")
    _axe(page)
    _shot(page, "api-tokens", mask=[page.locator("#new-token")])
    page.goto(f"{stack.admin}/console/api-tokens")  # shown once: the list shows the prefix only
    assert token not in page.content() and "colleague" in page.content()
    page.locator("tr", has_text="colleague").locator("text=Revoke…").click()
    page.click("button:has-text('Revoke the token')")
    page.wait_for_selector("text=The API token was revoked.")
    with httpx.Client(base_url=stack.admin, timeout=30) as http:
        assert http.get("/catalog", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    page.goto(f"{stack.admin}/console/accounts")
    page.fill("#display_name", "Second workspace")
    page.fill("#user_id", "user_2")
    page.fill("#api_key", "gumloop-key-not-shown")
    # The stack lets the proxy reach loopback only (conftest): the new account points at the emulator.
    with httpx.Client(base_url=stack.admin, headers=stack.auth, timeout=30) as http:
        existing = http.get(f"/integrated-account/{stack.ready['account_id']}").json()
    page.click("summary:has-text('Advanced: API base URLs') >> nth=0")
    page.fill("#api_base_url", existing["api_base_url"])
    page.fill("#stream_base_url", existing["stream_base_url"])
    page.click("button:has-text('Connect') >> nth=0")
    page.wait_for_selector("text=The account is connected.")
    assert "gumloop-key-not-shown" not in page.content()
    page.goto(f"{stack.admin}/console/accounts")
    page.locator("tr", has_text="Second workspace").locator("text=Delete…").click()
    assert "No MCP server belongs to this account." in page.content()
    _axe(page)
    page.click("button:has-text('Delete the account')")
    page.wait_for_selector("text=The account was deleted.")
    assert page.locator("tr", has_text="Second workspace").count() == 0
    context.close()


def test_the_console_is_locked_down(stack: Stack) -> None:
    """Cookie flags, CSP, CSRF on state changes, sign-in required, wrong tokens refused."""
    with httpx.Client(base_url=stack.admin, timeout=30, follow_redirects=False) as http:
        page = http.get("/console/accounts")
        assert page.status_code == 303 and page.headers["location"] == "/console/login"
        login = http.get("/console/login")
        csp = login.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert login.headers["cache-control"] == "no-store"
        nonce = login.text.split('name="login_nonce" value="')[1].split('"')[0]
        wrong = http.post("/console/login", data={"login_nonce": nonce, "token": "gmcpat_wrong"})
        assert wrong.status_code == 401 and "invalid" in wrong.text
        forged = http.post("/console/login", data={"login_nonce": "other", "token": stack.ready["api_token"]})
        assert forged.status_code == 403
        login = http.get("/console/login")
        nonce = login.text.split('name="login_nonce" value="')[1].split('"')[0]
        signed = http.post("/console/login", data={"login_nonce": nonce, "token": stack.ready["api_token"]})
        assert signed.status_code == 303
        cookie = next(
            v for k, v in signed.headers.multi_items() if k == "set-cookie" and "gmcp_console=" in v
        )
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # plain http on loopback; Secure comes with TLS
        assert stack.ready["api_token"] not in cookie
        no_csrf = http.post("/console/api-tokens", data={"name": "x", "purpose": "management"})
        assert no_csrf.status_code == 403
        preview = http.post("/console/preview", json={"methods": ["read"]})
        assert preview.status_code == 403
        accounts = http.get("/console/accounts")
        csrf = accounts.text.split('name="csrf" value="')[1].split('"')[0]
        ok = http.post("/console/preview", json={"methods": ["read"]}, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200 and ok.json()["tools"]


SECRET_ARGUMENT = "ses_console-secret-4711"


async def _calls(url: str) -> None:
    """Tool calls through the minted URL with the official MCP client: two ok, one with a secret
    argument, one unknown tool."""
    async with client_for(url) as client:
        for _ in range(2):
            assert not (await client.call_tool("list_all_gumloop_teams", {})).is_error
        await client.call_tool(STATUS_TOOL, {"session_id": SECRET_ARGUMENT})
        with pytest.raises(MCPError):
            await client.call_tool("no_such_tool_at_all", {"x": SECRET_ARGUMENT})


async def _refused_call(url: str) -> None:
    async with client_for(url) as client:
        assert (await client.call_tool("list_all_gumloop_teams", {})).is_error


def _api(stack: Stack, method: str, path: str, **kwargs: Any) -> Any:
    with httpx.Client(base_url=stack.admin, headers=stack.auth, timeout=30) as http:
        resp = http.request(method, path, **kwargs)
    assert resp.is_success, resp.text
    return resp.json()


def _trail(stack: Stack, account_id: str, mcp_id: str, count: int) -> list[dict[str, Any]]:
    """The server's trail once it holds `count` records (the audit writer runs off the call path)."""
    deadline = time.monotonic() + 15
    while True:
        records: list[dict[str, Any]] = _api(
            stack, "GET", f"/integrated-account/{account_id}/mcp/{mcp_id}/activity", params={"limit": "100"}
        )["result"]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def _rows(page: Any) -> list[tuple[str, str]]:
    return [
        (r.locator("td").nth(1).inner_text(), r.locator("td").nth(2).inner_text())
        for r in page.locator("#activity tbody tr").all()
    ]


def _filter(page: Any, **fields: str) -> None:
    page.fill("#f-tool", fields.get("tool", ""))
    page.select_option("#f-outcome", fields.get("outcome", ""))
    page.fill("#f-client", fields.get("client", ""))
    page.select_option("#f-period", fields.get("period", ""))
    page.click("#apply-filters")
    page.wait_for_load_state()


def _export(page: Any) -> list[dict[str, str]]:
    with page.expect_download() as download:
        page.click("#export-csv")
    return list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))


def test_activity_filters_export_and_account_state_in_the_browser(browser: Any, stack: Stack) -> None:
    """Real tool calls show in the activity view (tool names, outcomes); filters narrow them; the CSV
    download has the rows; no secret appears; an account whose key Gumloop refuses needs reconnection."""
    account_id = stack.ready["account_id"]
    created = _api(stack, "POST", f"/integrated-account/{account_id}/mcp", json={"name": "Audited"})
    mcp_id, url = created["id"], created["url"]
    _run(_calls(url))
    assert len(_trail(stack, account_id, mcp_id, 4)) == 4

    context = _context(browser, stack)
    context.set_default_timeout(20_000)
    page = context.new_page()
    _sign_in(page, stack)
    page.goto(f"{stack.admin}/console/accounts/{account_id}/mcp")
    row = page.locator("tr", has_text="Audited")
    assert row.locator("td.num").inner_text() == "4"  # calls in the last 24 h
    row.locator("text=Activity").click()
    page.wait_for_selector("#activity")
    assert _rows(page) == [
        ("no_such_tool_at_all", "unknown tool"),
        (STATUS_TOOL, _rows(page)[1][1]),
        ("list_all_gumloop_teams", "ok"),
        ("list_all_gumloop_teams", "ok"),
    ]
    assert _rows(page)[1][1] in ("ok", "tool error")
    _axe(page)
    _shot(page, "activity")

    _filter(page, outcome="unknown_tool")
    assert _rows(page) == [("no_such_tool_at_all", "unknown tool")]
    _filter(page, tool="list_all_gumloop_teams", period="24h")
    assert _rows(page) == [("list_all_gumloop_teams", "ok")] * 2
    exported = _export(page)
    assert [(r["tool"], r["outcome"]) for r in exported] == [("list_all_gumloop_teams", "ok")] * 2
    assert all(r["server_id"] == mcp_id and r["client_name"] == "mcp" for r in exported)
    _filter(page, client="some-other-client")
    assert page.locator("#activity").count() == 0 and "No call matches" in page.inner_text("#no-activity")
    _filter(page, client="mcp")
    assert len(_rows(page)) == 4
    everything = _export(page)
    assert [r["tool"] for r in everything] == [t for t, _ in _rows(page)]
    _filter(page, outcome="ok", period="1h")
    _axe(page)
    token = url.rsplit("/", 1)[1]
    for text in (page.content(), str(everything)):
        assert SECRET_ARGUMENT not in text and token not in text and stack.ready["api_token"] not in text

    # An account whose key Gumloop refuses: its calls fail, and the console says it needs reconnecting.
    good = _api(stack, "GET", f"/integrated-account/{account_id}")
    wrong = {
        "display_name": "Expired key",
        "user_id": good["user_id"],
        "api_key": "gumloop-key-revoked-upstream",
        "api_base_url": good["api_base_url"],
        "stream_base_url": good["stream_base_url"],
    }
    broken = _api(stack, "POST", "/integrated-account", json=wrong)["id"]
    refused = _api(stack, "POST", f"/integrated-account/{broken}/mcp", json={"name": "Stale"})
    _run(_refused_call(refused["url"]))
    trail = _trail(stack, broken, refused["id"], 1)
    assert [r["outcome"] for r in trail] == ["credentials_rejected"]
    page.goto(f"{stack.admin}/console/accounts")
    assert "Needs reconnection" in page.locator("tr", has_text="Expired key").inner_text()
    assert "Connected" in page.locator("tr", has_text=good["display_name"]).first.inner_text()
    _axe(page)
    _shot(page, "accounts-state")
    page.locator("tr", has_text="Expired key").locator("text=Delete…").click()
    assert "Stale" in page.inner_text("#servers-that-stop")
    _axe(page)
    page.click("button:has-text('Delete the account')")
    page.wait_for_selector("text=The account was deleted.")
    context.close()
