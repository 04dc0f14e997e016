"""The subcommands and what each one asks of the management API.

Each handler takes the client and the parsed arguments and returns an `Output`: the JSON to
print with `--json` and the text to print otherwise. Errors (`ManagementError`, `NoApiToken`,
`UsageError`) become one `gumloop-mcp: ...` line on stderr and exit status 1 (2 for usage).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from gumloop_mcp.contract import diff
from gumloop_mcp.management_client import ManagementClient, ManagementError

from . import connection
from .render import (
    ACCOUNT_COLUMNS,
    API_TOKEN_COLUMNS,
    GRANT_COLUMNS,
    SERVER_COLUMNS,
    card,
    catalog_text,
    table,
)

__all__ = ["COMMANDS", "Output", "UsageError", "add_commands", "run"]


class UsageError(Exception):
    """The arguments cannot make a valid request (said before anything is sent)."""


@dataclass(frozen=True, slots=True)
class Output:
    """What a command prints: `data` with --json, `text` otherwise."""

    data: Any
    text: str


Handler = Callable[[ManagementClient, argparse.Namespace], Output]
COMMANDS: Final = ("servers", "accounts", "api-tokens", "catalog")
_URL_NOTE: Final = "shown only once; anyone holding it can use the server"


def _iso_time(value: str) -> str:
    """argparse type: an ISO 8601 time with an offset (`Z` allowed), passed on as given."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a UTC offset (e.g. {value}Z or {value}+02:00)")
    return moment.isoformat()


def _seconds(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {value!r}") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return seconds


# -- servers ------------------------------------------------------------------------------------


def _account_of(client: ManagementClient, args: argparse.Namespace) -> str:
    """The --account given, else the only account there is."""
    if args.account:
        return str(args.account)
    accounts = client.list_accounts()
    if len(accounts) == 1:
        return str(accounts[0]["id"])
    if not accounts:
        raise UsageError(
            "there is no integrated account yet: connect one with `gumloop-mcp accounts connect`"
        )
    ids = ", ".join(str(a["id"]) for a in accounts)
    raise UsageError(f"several integrated accounts ({ids}): choose one with --account")


def _server_account(client: ManagementClient, args: argparse.Namespace) -> str:
    return str(args.account) if args.account else client.find_server_account(args.server_id)


def _created_server_text(server: dict[str, Any], verb: str) -> str:
    return (
        f"{card(server, SERVER_COLUMNS)}\n\n{verb}. MCP URL ({_URL_NOTE}):\n{server['url']}\n\n"
        "Claude Desktop snippet: gumloop-mcp claude-config --url URL"
    )


def servers_list(client: ManagementClient, args: argparse.Namespace) -> Output:
    accounts = [args.account] if args.account else [str(a["id"]) for a in client.list_accounts()]
    servers = [server for account in accounts for server in client.list_servers(account)]
    return Output(servers, table(servers, SERVER_COLUMNS, "(no MCP servers)"))


#: The allowed-set options and the server config field each one sets (require_oauth servers).
_ALLOWED: Final = (
    ("allow_email", "--allow-email", "oauth_allowed_emails"),
    ("allow_domain", "--allow-domain", "oauth_allowed_domains"),
    ("allow_group", "--allow-group", "oauth_allowed_groups"),
)


def _allowed_given(args: argparse.Namespace) -> list[str]:
    """The allowed-set options given (their flags), `--allow-nobody` included."""
    given = [flag for attr, flag, _ in _ALLOWED if getattr(args, attr)]
    return [*given, "--allow-nobody"] if getattr(args, "allow_nobody", False) else given


def _allowed_sets(args: argparse.Namespace) -> dict[str, list[str]]:
    """The config's three allowed lists from --allow-email/-domain/-group (each replaces its list)."""
    if getattr(args, "allow_nobody", False):
        if given := [flag for attr, flag, _ in _ALLOWED if getattr(args, attr)]:
            raise UsageError(f"--allow-nobody and {', '.join(given)} contradict each other")
        return {field: [] for _, _, field in _ALLOWED}
    return {field: list(getattr(args, attr)) for attr, _, field in _ALLOWED if getattr(args, attr)}


def servers_create(client: ManagementClient, args: argparse.Namespace) -> Output:
    body: dict[str, Any] = {
        "name": args.name,
        "config": {"methods": args.method or [], "tags": args.tag or []},
        "require_api_token_auth": args.require_api_token,
    }
    if args.require_oauth:
        if args.require_api_token:
            raise UsageError("--require-api-token and --require-oauth exclude each other (one second factor)")
        body["require_oauth"] = True
    elif given := _allowed_given(args):
        raise UsageError(f"{', '.join(given)}: who may sign in applies to --require-oauth servers only")
    body["config"] |= _allowed_sets(args)
    if args.expires_at:
        body["expires_at"] = args.expires_at
    server = client.create_server(_account_of(client, args), body)
    return Output(server, _created_server_text(server, "Created"))


def servers_get(client: ManagementClient, args: argparse.Namespace) -> Output:
    server = client.get_server(_server_account(client, args), args.server_id)
    return Output(server, card(server, SERVER_COLUMNS))


def _config(current: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The new config: the API replaces the whole config, so every field not given is kept as it is."""
    if args.method and args.all_methods:
        raise UsageError("--method and --all-methods contradict each other")
    if args.tag and args.any_tag:
        raise UsageError("--tag and --any-tag contradict each other")
    methods = [] if args.all_methods else (args.method or current["methods"])
    tags = [] if args.any_tag else (args.tag or current["tags"])
    return {**current, "methods": methods, "tags": tags, **_allowed_sets(args)}


def servers_update(client: ManagementClient, args: argparse.Namespace) -> Output:
    account = _server_account(client, args)
    body: dict[str, Any] = {}
    if args.name is not None:
        body["name"] = args.name
    if args.expires_at and args.no_expiry:
        raise UsageError("--expires-at and --no-expiry contradict each other")
    if args.expires_at:
        body["expires_at"] = args.expires_at
    elif args.no_expiry:
        body["expires_at"] = None
    if args.require_api_token is not None:
        body["require_api_token_auth"] = args.require_api_token
    if args.require_oauth is not None:
        if args.require_oauth and args.require_api_token:
            raise UsageError("--require-api-token and --require-oauth exclude each other (one second factor)")
        body["require_oauth"] = args.require_oauth
    allowed = _allowed_given(args)
    _allowed_sets(args)  # contradictions are refused before anything is read
    if args.method or args.tag or args.all_methods or args.any_tag or allowed:
        current = client.get_server(account, args.server_id)
        oauth = args.require_oauth if args.require_oauth is not None else bool(current.get("require_oauth"))
        if allowed and (not oauth or args.require_api_token):
            raise UsageError(
                f"{', '.join(allowed)}: who may sign in applies to OAuth servers only "
                "(add --require-oauth to turn it on)"
            )
        body["config"] = _config(current["config"], args)
    if not body:
        raise UsageError("nothing to update: give at least one option (see `servers update --help`)")
    server = client.update_server(account, args.server_id, body)
    return Output(server, card(server, SERVER_COLUMNS))


def servers_rotate(client: ManagementClient, args: argparse.Namespace) -> Output:
    server = client.rotate_server(_server_account(client, args), args.server_id, args.grace_period)
    verb = "Rotated"
    if args.grace_period:
        verb += f"; the old URL keeps working for {args.grace_period} s"
    else:
        verb += "; the old URL no longer works"
    return Output(server, _created_server_text(server, verb))


def servers_connect_code(client: ManagementClient, args: argparse.Namespace) -> Output:
    made = client.create_connect_code(_server_account(client, args), args.server_id, args.subject, args.ttl)
    text = (
        f"Connect code for {made['subject']} on {made['mcp_server_id']} (shown only once; one use, "
        f"until {made['expires_at']}):\n  {made['code']}"
    )
    return Output(made, text)


def servers_grants(client: ManagementClient, args: argparse.Namespace) -> Output:
    grants = client.list_grants(_server_account(client, args), args.server_id)
    return Output(grants, table(grants, GRANT_COLUMNS, "(nobody has connected)"))


def servers_revoke_grant(client: ManagementClient, args: argparse.Namespace) -> Output:
    client.revoke_grant(_server_account(client, args), args.server_id, args.grant_id)
    return Output(
        {"id": args.grant_id, "revoked": True}, f"Revoked grant {args.grant_id}: that client is signed out."
    )


def servers_revoke(client: ManagementClient, args: argparse.Namespace) -> Output:
    client.delete_server(_server_account(client, args), args.server_id)
    return Output(
        {"id": args.server_id, "revoked": True}, f"Revoked {args.server_id}: its URL no longer works."
    )


# -- accounts -----------------------------------------------------------------------------------


def accounts_list(client: ManagementClient, args: argparse.Namespace) -> Output:
    accounts = client.list_accounts()
    return Output(accounts, table(accounts, ACCOUNT_COLUMNS, "(no integrated accounts)"))


def _read_secret(kind: str) -> str:
    """The Gumloop credential: env GUMLOOP_API_KEY / GUMLOOP_ACCESS_TOKEN, else a prompt or stdin."""
    env = "GUMLOOP_API_KEY" if kind == "api_key" else "GUMLOOP_ACCESS_TOKEN"
    secret = os.environ.get(env, "").strip()
    if not secret:
        label = "Gumloop API key" if kind == "api_key" else "Gumloop OAuth access token"
        secret = (getpass.getpass(f"{label}: ") if sys.stdin.isatty() else sys.stdin.readline()).strip()
    if not secret:
        raise UsageError(f"no credential: set {env} or type it when asked (it is never a flag)")
    return secret


def accounts_connect(client: ManagementClient, args: argparse.Namespace) -> Output:
    body: dict[str, Any] = {
        "display_name": args.display_name,
        args.credential: _read_secret(args.credential),
        "user_id": args.user_id,
        "team_id": args.team_id,
        "project_id": args.project_id,
        "api_base_url": args.api_base_url,
        "stream_base_url": args.stream_base_url,
    }
    if args.id:
        body["id"] = args.id
    account = client.create_account(body)
    return Output(account, card(account, ACCOUNT_COLUMNS))


def _oauth_started(started: dict[str, Any]) -> Output:
    account = started["account"]
    text = (
        f"Account {account['id']} is waiting for its authorization. Open this URL in a browser and approve;\n"
        "Gumloop sends you back to the admin port, which stores the tokens "
        f"(before {started['expires_at']}):\n\n"
        f"  {started['authorization_url']}\n\n"
        f"Then `gumloop-mcp accounts list` shows it active."
    )
    return Output(started, text)


def _oauth_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"scopes": args.scope or []}
    if args.redirect_uri:
        body["redirect_uri"] = args.redirect_uri
    return body


def accounts_connect_oauth(client: ManagementClient, args: argparse.Namespace) -> Output:
    body = _oauth_body(args) | {
        "display_name": args.display_name,
        "user_id": args.user_id,
        "team_id": args.team_id,
        "project_id": args.project_id,
        "api_base_url": args.api_base_url,
        "stream_base_url": args.stream_base_url,
    }
    if args.id:
        body["id"] = args.id
    return _oauth_started(client.start_account_oauth(body))


def accounts_reconnect(client: ManagementClient, args: argparse.Namespace) -> Output:
    return _oauth_started(client.reconnect_account_oauth(args.account_id, _oauth_body(args)))


def accounts_delete(client: ManagementClient, args: argparse.Namespace) -> Output:
    client.delete_account(args.account_id)
    text = f"Deleted account {args.account_id} and its stored credential."
    return Output({"id": args.account_id, "deleted": True}, text)


# -- API tokens ---------------------------------------------------------------------------------


def api_tokens_create(client: ManagementClient, args: argparse.Namespace) -> Output:
    body: dict[str, Any] = {"name": args.name, "purpose": args.purpose or ["mcp_client"]}
    if args.account:
        body["account_id"] = args.account
    if args.expires_at:
        body["expires_at"] = args.expires_at
    created = client.create_api_token(body)
    text = f"{card(created, API_TOKEN_COLUMNS)}\n\nAPI token ({_URL_NOTE}):\n{created['token']}"
    return Output(created, text)


def api_tokens_list(client: ManagementClient, args: argparse.Namespace) -> Output:
    tokens = client.list_api_tokens()
    return Output(tokens, table(tokens, API_TOKEN_COLUMNS, "(no API tokens)"))


def api_tokens_revoke(client: ManagementClient, args: argparse.Namespace) -> Output:
    client.revoke_api_token(args.token_id)
    return Output({"id": args.token_id, "revoked": True}, f"Revoked API token {args.token_id}.")


def catalog(client: ManagementClient, args: argparse.Namespace) -> Output:
    try:
        found = client.catalog()
    except ManagementError as exc:
        if exc.status == 404:
            raise ManagementError(
                f"the management API at {client.base_url} has no GET /catalog (older version)"
            ) from None
        raise
    if args.tag:
        operations = [op for op in found.get("operations") or [] if args.tag in (op.get("tags") or [])]
        found = {**found, "operations": operations}
    return Output(found, catalog_text(found))


# -- parsers ------------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument(
        "--api-url",
        default=None,
        help="management API URL (default: env GMCP_API_URL, else where `up` last served, else "
        f"{connection.DEFAULT_API_URL})",
    )
    common.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the `up` data directory holding api-token (default: env GMCP_DATA_DIR, else .gumloop-mcp); "
        "env GMCP_API_TOKEN overrides its token",
    )
    return common


def _verb(
    group: Any, name: str, handler: Handler, common: argparse.ArgumentParser, help_text: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, parents=[common], help=help_text)
    parser.set_defaults(handler=handler)
    return parser


def _scope_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method", action="append", metavar="M", help="method group or operation name (repeat; default all)"
    )
    parser.add_argument("--tag", action="append", metavar="T", help="only operations with this tag (repeat)")


def _allowed_args(parser: argparse.ArgumentParser) -> None:
    """Who may sign in to an OAuth server through the identity provider (each option replaces its list)."""
    where = "(repeat; OAuth servers with an identity provider; replaces the list)"
    parser.add_argument(
        "--allow-email", action="append", metavar="EMAIL", help=f"a person by verified email {where}"
    )
    parser.add_argument(
        "--allow-domain", action="append", metavar="DOMAIN", help=f"everyone at this email domain {where}"
    )
    parser.add_argument(
        "--allow-group", action="append", metavar="GROUP", help=f"members of this IdP group {where}"
    )


def add_commands(sub: Any) -> None:
    """Add `servers`, `accounts`, `api-tokens` and `catalog` to the main parser's subparsers."""
    common = _common()
    account = argparse.ArgumentParser(add_help=False)
    account.add_argument(
        "--account", metavar="ID", help="integrated account id (default: the only one / found)"
    )
    with_account = argparse.ArgumentParser(add_help=False, parents=[common, account])

    servers = sub.add_parser("servers", help="list, create, change, rotate or revoke MCP servers")
    verbs = servers.add_subparsers(dest="verb", required=True)
    _verb(verbs, "list", servers_list, with_account, "list MCP servers (of every account without --account)")
    create = _verb(
        verbs, "create", servers_create, with_account, "mint an MCP server (its URL is shown once)"
    )
    create.add_argument("--name", required=True)
    _scope_args(create)
    create.add_argument("--expires-at", type=_iso_time, metavar="TIME", help="ISO 8601 with offset")
    create.add_argument(
        "--require-api-token", action="store_true", help="clients must also send an mcp_client API token"
    )
    create.add_argument(
        "--require-oauth", action="store_true", help="clients sign in with OAuth (e.g. Claude.ai connectors)"
    )
    _allowed_args(create)
    _verb(verbs, "get", servers_get, with_account, "show one MCP server").add_argument(
        "server_id", metavar="SERVER_ID"
    )
    update = _verb(
        verbs,
        "update",
        servers_update,
        with_account,
        "change name, scope, expiry, second factor or who may sign in",
    )
    update.add_argument("server_id", metavar="SERVER_ID")
    update.add_argument("--name")
    _scope_args(update)
    update.add_argument("--all-methods", action="store_true", help="expose every method group again")
    update.add_argument("--any-tag", action="store_true", help="drop the tag filter")
    update.add_argument("--expires-at", type=_iso_time, metavar="TIME", help="ISO 8601 with offset")
    update.add_argument("--no-expiry", action="store_true", help="never expire")
    update.add_argument("--require-api-token", action=argparse.BooleanOptionalAction, default=None)
    update.add_argument("--require-oauth", action=argparse.BooleanOptionalAction, default=None)
    _allowed_args(update)
    update.add_argument(
        "--allow-nobody", action="store_true", help="empty the allowed emails, domains and groups"
    )
    code = _verb(
        verbs,
        "connect-code",
        servers_connect_code,
        with_account,
        "mint a one-time OAuth connect code for a person",
    )
    code.add_argument("server_id", metavar="SERVER_ID")
    code.add_argument("--subject", required=True, help="who it is for (e.g. their email)")
    code.add_argument("--ttl", type=_seconds, default=None, metavar="SECONDS", help="how long it can be used")
    _verb(
        verbs, "grants", servers_grants, with_account, "list who has connected to an OAuth server"
    ).add_argument("server_id", metavar="SERVER_ID")
    revoke_grant = _verb(
        verbs, "revoke-grant", servers_revoke_grant, with_account, "sign one person's client out"
    )
    revoke_grant.add_argument("server_id", metavar="SERVER_ID")
    revoke_grant.add_argument("grant_id", metavar="GRANT_ID")
    rotate = _verb(verbs, "rotate", servers_rotate, with_account, "issue a new URL (shown once)")
    rotate.add_argument("server_id", metavar="SERVER_ID")
    rotate.add_argument(
        "--grace-period",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="keep the old URL working this long",
    )

    revoke_server = _verb(
        verbs, "revoke", servers_revoke, with_account, "delete an MCP server: its URL stops working at once"
    )
    revoke_server.add_argument("server_id", metavar="SERVER_ID")

    accounts = sub.add_parser("accounts", help="list, connect or delete Gumloop accounts")
    verbs = accounts.add_subparsers(dest="verb", required=True)
    _verb(verbs, "list", accounts_list, common, "list integrated accounts")
    connect = _verb(
        verbs,
        "connect",
        accounts_connect,
        common,
        "connect a Gumloop account (credential from env GUMLOOP_API_KEY / GUMLOOP_ACCESS_TOKEN, or a prompt)",
    )
    connect.add_argument("--display-name", required=True)
    connect.add_argument("--credential", choices=("api_key", "access_token"), default="api_key")
    connect.add_argument("--id", help="chosen account id (generated when absent)")
    for field in ("user-id", "team-id", "project-id", "api-base-url", "stream-base-url"):
        connect.add_argument(f"--{field}", default="")
    oauth = _verb(
        verbs,
        "connect-oauth",
        accounts_connect_oauth,
        common,
        "connect a Gumloop account by OAuth: prints the authorization URL to open in a browser",
    )
    oauth.add_argument("--display-name", required=True)
    oauth.add_argument("--id", help="chosen account id (generated when absent)")
    for field in ("user-id", "team-id", "project-id", "api-base-url", "stream-base-url"):
        oauth.add_argument(f"--{field}", default="")
    reconnect = _verb(
        verbs,
        "reconnect",
        accounts_reconnect,
        common,
        "reconnect an OAuth account (prints a new authorization URL)",
    )
    reconnect.add_argument("account_id", metavar="ACCOUNT_ID")
    for parser in (oauth, reconnect):
        parser.add_argument(
            "--scope", action="append", help="OAuth scope (repeatable; default: gumloop userinfo)"
        )
        parser.add_argument("--redirect-uri", default="", help="callback URL (default: the admin port's)")
    delete = _verb(verbs, "delete", accounts_delete, common, "delete an account and its stored credential")
    delete.add_argument("account_id", metavar="ACCOUNT_ID")

    tokens = sub.add_parser("api-tokens", help="create, list or revoke API tokens")
    verbs = tokens.add_subparsers(dest="verb", required=True)
    mint = _verb(verbs, "create", api_tokens_create, common, "mint an API token (shown once)")
    mint.add_argument("--name", required=True)
    mint.add_argument(
        "--purpose", choices=("management", "mcp_client"), action="append", help="repeat; default mcp_client"
    )
    mint.add_argument("--account", metavar="ID", help="bind the token to one integrated account")
    mint.add_argument("--expires-at", type=_iso_time, metavar="TIME", help="ISO 8601 with offset")
    _verb(verbs, "list", api_tokens_list, common, "list API tokens (never their secrets)")
    revoke = _verb(verbs, "revoke", api_tokens_revoke, common, "revoke an API token")
    revoke.add_argument("token_id", metavar="TOKEN_ID")

    listing = _verb(
        sub, "catalog", catalog, common, "list the operations, tags and method groups to scope servers"
    )
    listing.add_argument("--tag", help="only operations with this tag")
    catalog_verbs = listing.add_subparsers(dest="catalog_verb", required=False, metavar="{diff}")
    drift = catalog_verbs.add_parser(
        "diff",
        help="compare the catalog with Gumloop's OpenAPI documents and/or the official SDK; exit 1 on drift",
        description=(diff.__doc__ or "").splitlines()[0],
    )
    diff.add_arguments(drift)


def run(args: argparse.Namespace, *, client: ManagementClient | None = None) -> int:
    """Execute one parsed subcommand; the process exit status."""
    if args.command == "catalog" and getattr(args, "catalog_verb", None) == "diff":
        return diff.run(args)  # reads local files: no management API, no token
    try:
        if client is None:
            directory = connection.data_dir(args.data_dir)
            url = connection.api_url(args.api_url, directory)
            client = ManagementClient(url, connection.api_token(directory))
        with client:
            output = args.handler(client, args)
    except (ManagementError, connection.NoApiToken, UsageError) as exc:
        print(f"gumloop-mcp {args.command}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    print(json.dumps(output.data, indent=2) if args.json else output.text)
    return 0
