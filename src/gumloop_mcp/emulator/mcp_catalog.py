"""The emulator's catalog of Gumloop-hosted MCP servers (guMCP), named as Gumloop names them
(``gumloop_<app>``, tools called ``<server_id>__<tool>``; see the MCP OpenAPI document's examples).

Each server: ``(server_id, name, status, description, tools)``; each tool ``(name, description,
properties, required, writes)``. ``writes`` marks tools that change something outside Gumloop: an agent
whose MCP entry has ``approval_mode: "write"`` pauses for approval before those (``"all"`` before every
tool; see routes_approvals.py). Statuses: ``connected`` (tool calls work), ``unauthenticated`` (the user
must connect the app first: tool calls answer ``auth_required``), ``blocked`` (restricted by the
organization's admins: attaching it to an agent is 403).
"""

from __future__ import annotations

from typing import Any

Tool = tuple[str, str, dict[str, Any], list[str], bool]
S: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
L: dict[str, Any] = {"type": "array", "items": {"type": "string"}}


def _p(**props: dict[str, Any]) -> dict[str, Any]:
    return dict(props)


SERVERS: list[tuple[str, str, str, str, list[Tool]]] = [
    (
        "gumloop_slack",
        "Slack",
        "connected",
        "Send and read Slack messages.",
        [
            (
                "slack_send_message",
                "Send a message to a channel or user",
                _p(channel=S, text=S),
                ["text"],
                True,
            ),
            ("slack_list_channels", "List channels", _p(limit=INT), [], False),
            (
                "slack_read_messages",
                "Read recent messages of a channel",
                _p(channel=S, limit=INT),
                ["channel"],
                False,
            ),
            (
                "slack_add_reaction",
                "React to a message",
                _p(channel=S, timestamp=S, name=S),
                ["channel", "timestamp", "name"],
                True,
            ),
        ],
    ),
    (
        "gumloop_gmail",
        "Gmail",
        "unauthenticated",
        "Read, search and send Gmail email.",
        [
            (
                "gmail_send",
                "Send an email",
                _p(to=L, subject=S, body=S, cc=L),
                ["to", "subject", "body"],
                True,
            ),
            (
                "gmail_search",
                "Search emails with Gmail query syntax",
                _p(query=S, max_results=INT),
                ["query"],
                False,
            ),
            ("gmail_read_email", "Read one email", _p(message_id=S), ["message_id"], False),
            ("gmail_create_draft", "Create a draft", _p(to=L, subject=S, body=S), ["to", "subject"], True),
        ],
    ),
    (
        "gumloop_google_calendar",
        "Google Calendar",
        "connected",
        "Manage Google Calendar events.",
        [
            (
                "gcalendar_list_events",
                "List events in a time range",
                _p(calendar_id=S, time_min=S, time_max=S),
                [],
                False,
            ),
            (
                "gcalendar_create_event",
                "Create an event",
                _p(summary=S, start=S, end=S, attendees=L),
                ["summary", "start", "end"],
                True,
            ),
            ("gcalendar_delete_event", "Delete an event", _p(event_id=S), ["event_id"], True),
        ],
    ),
    (
        "gumloop_google_drive",
        "Google Drive",
        "connected",
        "Search and read Google Drive files.",
        [
            ("gdrive_search", "Search files", _p(query=S), ["query"], False),
            ("gdrive_read_file", "Read a file's contents", _p(file_id=S), ["file_id"], False),
            (
                "gdrive_upload_file",
                "Upload a file",
                _p(name=S, content=S, folder_id=S),
                ["name", "content"],
                True,
            ),
        ],
    ),
    (
        "gumloop_google_sheets",
        "Google Sheets",
        "connected",
        "Read and write Google Sheets.",
        [
            (
                "gsheets_read_range",
                "Read a range",
                _p(spreadsheet_id=S, range=S),
                ["spreadsheet_id", "range"],
                False,
            ),
            (
                "gsheets_append_rows",
                "Append rows",
                _p(spreadsheet_id=S, range=S, values={"type": "array"}),
                ["spreadsheet_id", "values"],
                True,
            ),
        ],
    ),
    (
        "gumloop_notion",
        "Notion",
        "connected",
        "Search and edit Notion pages.",
        [
            ("notion_search", "Search pages", _p(query=S), [], False),
            (
                "notion_create_page",
                "Create a page",
                _p(parent_id=S, title=S, content=S),
                ["parent_id", "title"],
                True,
            ),
        ],
    ),
    # Restricted for the organization by its admins: attaching it to an agent is 403.
    (
        "gumloop_github",
        "GitHub",
        "blocked",
        "Work with GitHub repositories and issues.",
        [
            ("github_search", "Search code", _p(query=S), ["query"], False),
            ("github_create_issue", "Create an issue", _p(repo=S, title=S, body=S), ["repo", "title"], True),
        ],
    ),
    (
        "gumloop_hubspot",
        "HubSpot",
        "connected",
        "HubSpot CRM contacts, companies and deals.",
        [
            ("hubspot_search_contacts", "Search contacts", _p(query=S), ["query"], False),
            (
                "hubspot_create_contact",
                "Create a contact",
                _p(email=S, first_name=S, last_name=S),
                ["email"],
                True,
            ),
            (
                "hubspot_update_deal",
                "Update a deal",
                _p(deal_id=S, properties={"type": "object"}),
                ["deal_id"],
                True,
            ),
        ],
    ),
    (
        "gumloop_salesforce",
        "Salesforce",
        "unauthenticated",
        "Salesforce CRM records.",
        [
            ("salesforce_soql_query", "Run a SOQL query", _p(query=S), ["query"], False),
            (
                "salesforce_create_record",
                "Create a record",
                _p(object=S, fields={"type": "object"}),
                ["object", "fields"],
                True,
            ),
        ],
    ),
    (
        "gumloop_linear",
        "Linear",
        "connected",
        "Linear issues and projects.",
        [
            ("linear_search_issues", "Search issues", _p(query=S), [], False),
            (
                "linear_create_issue",
                "Create an issue",
                _p(team_id=S, title=S, description=S),
                ["team_id", "title"],
                True,
            ),
        ],
    ),
    (
        "gumloop_jira",
        "Jira",
        "connected",
        "Jira issues.",
        [
            ("jira_search_issues", "Search issues with JQL", _p(jql=S), ["jql"], False),
            (
                "jira_create_issue",
                "Create an issue",
                _p(project_key=S, summary=S, description=S),
                ["project_key", "summary"],
                True,
            ),
        ],
    ),
]


def server(sid: str, name: str, status: str, description: str, tools: list[Tool]) -> dict[str, Any]:
    """A catalog entry as the emulator stores it (``_``-prefixed keys are never answered)."""
    app = sid.removeprefix("gumloop_")
    return {
        "server_id": sid,
        "name": name,
        "type": "gumcp_server",
        "status": status,
        "icon_url": f"https://www.gumloop.com/icons/{app}.png",
        "description": description,
        "gumloop_auth_url": f"https://www.gumloop.com/oauth/connect/{app}",
        "mcp_url": f"https://mcp.gumloop.com/{sid}/mcp",
        "tool_count": len(tools),
        "allowed_tool_call_ids": None,
        "_writes": {t[0] for t in tools if t[4]},
        "_tools": [
            {
                "tool_call_id": f"{sid}__{t}",
                "name": t,
                "description": d,
                "input_schema": {"type": "object", "properties": props, "required": req},
                "server_id": sid,
                "server_type": "gumcp_server",
            }
            for t, d, props, req, _writes in tools
        ],
        "_resources": [
            {
                "uri": f"{sid}://docs/{n}",
                "name": f"doc-{n}",
                "title": f"Document {n}",
                "description": "Seeded resource",
                "mime_type": "text/plain",
                "size": 20,
                "server_id": sid,
            }
            for n in range(1, 26)
        ],
        "_prompts": [
            {
                "name": "summarise",
                "description": f"Summarise recent {name} activity",
                "arguments": [{"name": "channel", "description": "Channel name", "required": True}],
                "server_id": sid,
            }
        ],
    }


def catalog() -> dict[str, dict[str, Any]]:
    """Every server of the catalog by id."""
    return {sid: server(sid, name, status, desc, tools) for sid, name, status, desc, tools in SERVERS}
