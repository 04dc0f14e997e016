"""An agent's MCP servers (gumloop-api.md §2c): attach/upsert, list, detach, and the documented errors."""

import httpx

A = "/api/v1"


async def test_attach_upserts_lists_and_detaches_in_the_documented_shapes(client: httpx.AsyncClient) -> None:
    """PUT {agent_id, mcp_server, created, auth_status} (identity keys ignored); GET {agent_id, mcp_servers};
    DELETE {agent_id, server_id, detached}, idempotent."""
    url = A + "/agents/agent_research/mcp-servers/gumloop_slack"
    first = await client.put(url, json={"approval_mode": "auto", "type": "spoofed", "secret_id": "steal"})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"agent_id", "mcp_server", "created", "auth_status"}
    assert body["agent_id"] == "agent_research" and body["created"] is True
    assert body["auth_status"] == "authenticated"
    assert body["mcp_server"]["server_id"] == "gumloop_slack"
    assert body["mcp_server"]["approval_mode"] == "auto"
    assert body["mcp_server"]["type"] == "gumcp_server" and "secret_id" not in body["mcp_server"]
    again = (await client.put(url, json={"approval_mode": "manual"})).json()
    assert again["created"] is False and again["mcp_server"]["approval_mode"] == "manual"
    listed = (await client.get(A + "/agents/agent_research/mcp-servers")).json()
    assert listed["agent_id"] == "agent_research"
    assert [s["server_id"] for s in listed["mcp_servers"]] == ["gumloop_slack"]
    agent = (await client.get(A + "/agents/agent_research")).json()["agent"]
    assert [t["server_id"] for t in agent["tools"]] == ["gumloop_slack"]
    gone = (await client.delete(url)).json()
    assert gone == {"agent_id": "agent_research", "server_id": "gumloop_slack", "detached": True}
    assert (await client.delete(url)).json()["detached"] is False
    assert (await client.get(A + "/agents/agent_research/mcp-servers")).json()["mcp_servers"] == []


async def test_servers_already_in_the_agents_tools_are_listed(client: httpx.AsyncClient) -> None:
    """The seeded support agent's Slack tool is one of its MCP servers."""
    listed = (await client.get(A + "/agents/agent_support/mcp-servers")).json()
    assert [s["server_id"] for s in listed["mcp_servers"]] == ["gumloop_slack"]


async def test_attach_errors_restricted_not_found_and_ambiguous(client: httpx.AsyncClient) -> None:
    """403 mcp_server_restricted (blocked for the organization), 404 mcp_server_not_found, 409
    ambiguous_mcp_server (the agent holds duplicate entries for the server)."""
    base = A + "/agents/agent_research/mcp-servers/"
    restricted = await client.put(base + "gumloop_github", json={})
    assert restricted.status_code == 403 and restricted.json()["error"]["code"] == "mcp_server_restricted"
    missing = await client.put(base + "gumloop_nope", json={})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "mcp_server_not_found"
    dup = [{"type": "gumcp_server", "server_id": "gumloop_notion"}] * 2
    assert (await client.patch(A + "/agents/agent_research", json={"tools": dup})).status_code == 200
    ambiguous = await client.put(base + "gumloop_notion", json={})
    assert ambiguous.status_code == 409 and ambiguous.json()["error"]["code"] == "ambiguous_mcp_server"
    assert (await client.delete(base + "gumloop_notion")).json()["detached"] is True
    assert (await client.put(base + "gumloop_notion", json={})).json()["created"] is True


async def test_a_restricted_servers_tool_call_is_an_error(client: httpx.AsyncClient) -> None:
    """Calling a tool of a blocked server fails with mcp_server_restricted, not an auth prompt."""
    calls = [{"server_id": "gumloop_github", "tool_name": "github_search"}]
    r = await client.post(A + "/mcp/tools/call", json={"calls": calls})
    result = r.json()["results"][0]
    assert result["status"] == "error" and result["error"]["code"] == "mcp_server_restricted"
