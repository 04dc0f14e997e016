"""A small synchronous client of the management REST API (services/mcp_facade/management/management.py).

Every failure becomes one `ManagementError` with a message meant for a person: the API's own
error message (and field violations) when it refused, or why it could not be reached. List
calls follow `next_cursor` to the end. Secrets (the API token, minted URLs) are never logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import quote

import httpx

__all__ = ["ManagementClient", "ManagementError"]

_PAGE_SIZE: Final = 100


def _seg(value: str) -> str:
    """One path segment (an id typed by a person may hold anything)."""
    return quote(value, safe="")


class ManagementError(Exception):
    """The management API could not be reached or refused the request (`status` 0 = unreachable)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _refusal(response: httpx.Response) -> ManagementError:
    try:
        error = response.json()["error"]
        message = f"{error['message']} ({response.status_code} {error['code']})"
        fields = [f"{f['field']}: {f['description']}" for f in error.get("fields") or []]
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()[:200] or response.reason_phrase
        message, fields = f"{text} ({response.status_code})", []
    if fields:
        message += "\n  " + "\n  ".join(fields)
    return ManagementError(message, response.status_code)


class ManagementClient:
    """The management API at `base_url`, authorised with the management API token `api_token`."""

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_token}"},
            timeout=timeout_s,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call; the decoded JSON answer (None for 204) or ManagementError."""
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TimeoutException:
            raise ManagementError(f"the management API at {self.base_url} did not answer in time") from None
        except httpx.TransportError as exc:
            raise ManagementError(
                f"cannot reach the management API at {self.base_url} ({type(exc).__name__}); "
                "is `gumloop-mcp up` running, and is --api-url right?"
            ) from None
        if response.status_code >= 400:
            raise _refusal(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ManagementError(f"the management API answered {method} {path} with non-JSON") from None

    def _pages(self, path: str) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            query = f"?limit={_PAGE_SIZE}" + (f"&next_cursor={quote(cursor, safe='')}" if cursor else "")
            page = self.request("GET", path + query)
            yield from page["result"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # -- integrated accounts ------------------------------------------------------------------

    def list_accounts(self) -> list[dict[str, Any]]:
        """Every integrated account."""
        return list(self._pages("/integrated-account"))

    def create_account(self, body: dict[str, Any]) -> dict[str, Any]:
        """Connect a Gumloop account (body: AccountCreate)."""
        created: dict[str, Any] = self.request("POST", "/integrated-account", body)
        return created

    def start_account_oauth(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start connecting a Gumloop account by OAuth (body: AccountOAuthStart); the authorization URL."""
        started: dict[str, Any] = self.request("POST", "/integrated-account/oauth/start", body)
        return started

    def reconnect_account_oauth(self, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Start reconnecting an OAuth account; the authorization URL."""
        started: dict[str, Any] = self.request(
            "POST", f"/integrated-account/{_seg(account_id)}/oauth/start", body
        )
        return started

    def delete_account(self, account_id: str) -> None:
        """Delete an account and its stored credential."""
        self.request("DELETE", f"/integrated-account/{_seg(account_id)}")

    # -- MCP servers --------------------------------------------------------------------------

    def list_servers(self, account_id: str) -> list[dict[str, Any]]:
        """Every MCP server of an account."""
        return list(self._pages(f"/integrated-account/{_seg(account_id)}/mcp"))

    def create_server(self, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Mint an MCP server; the answer's `url` carries its token (shown once)."""
        created: dict[str, Any] = self.request("POST", f"/integrated-account/{_seg(account_id)}/mcp", body)
        return created

    def get_server(self, account_id: str, server_id: str) -> dict[str, Any]:
        """One MCP server (never its token)."""
        found: dict[str, Any] = self.request(
            "GET", f"/integrated-account/{_seg(account_id)}/mcp/{_seg(server_id)}"
        )
        return found

    def update_server(self, account_id: str, server_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change the fields present in `body` (McpServerPatch)."""
        path = f"/integrated-account/{_seg(account_id)}/mcp/{_seg(server_id)}"
        updated: dict[str, Any] = self.request("PATCH", path, body)
        return updated

    def rotate_server(
        self, account_id: str, server_id: str, grace_period_s: int | None = None
    ) -> dict[str, Any]:
        """A new token (new `url`); the old one keeps working for `grace_period_s` when given."""
        body = None if grace_period_s is None else {"grace_period_seconds": grace_period_s}
        rotated: dict[str, Any] = self.request(
            "POST", f"/integrated-account/{_seg(account_id)}/mcp/{_seg(server_id)}/rotate", body
        )
        return rotated

    def delete_server(self, account_id: str, server_id: str) -> None:
        """Revoke an MCP server: its URL stops working at once."""
        self.request("DELETE", f"/integrated-account/{_seg(account_id)}/mcp/{_seg(server_id)}")

    def create_connect_code(
        self, account_id: str, server_id: str, subject: str, ttl_s: int | None = None
    ) -> dict[str, Any]:
        """A one-time connect code for `subject` on an OAuth server (shown once)."""
        body: dict[str, Any] = {"subject": subject}
        if ttl_s is not None:
            body["ttl_seconds"] = ttl_s
        path = f"/integrated-account/{_seg(account_id)}/mcp/{_seg(server_id)}/oauth/connect-codes"
        created: dict[str, Any] = self.request("POST", path, body)
        return created

    def list_grants(self, account_id: str, server_id: str) -> list[dict[str, Any]]:
        """Who has connected to an OAuth server (one grant per person and client)."""
        path = f"/integrated-account/{_seg(account_id)}/mcp/{_seg(server_id)}/oauth/grants"
        grants: list[dict[str, Any]] = self.request("GET", path)["result"]
        return grants

    def revoke_grant(self, account_id: str, server_id: str, grant_id: str) -> None:
        """Cut one person's client off an OAuth server."""
        path = f"/integrated-account/{_seg(account_id)}/mcp/{_seg(server_id)}/oauth/grants/{_seg(grant_id)}"
        self.request("DELETE", path)

    def find_server_account(self, server_id: str) -> str:
        """The account an MCP server belongs to (asked of each account in turn)."""
        for account in self.list_accounts():
            try:
                self.get_server(str(account["id"]), server_id)
            except ManagementError as exc:
                if exc.status == 404:
                    continue
                raise
            return str(account["id"])
        raise ManagementError(f"no MCP server {server_id!r} in any integrated account", 404)

    # -- API tokens ---------------------------------------------------------------------------

    def create_api_token(self, body: dict[str, Any]) -> dict[str, Any]:
        """Mint an API token; the answer's `token` is shown once."""
        created: dict[str, Any] = self.request("POST", "/api-tokens", body)
        return created

    def list_api_tokens(self) -> list[dict[str, Any]]:
        """Every API token (never the secrets)."""
        return list(self._pages("/api-tokens"))

    def revoke_api_token(self, token_id: str) -> None:
        """Revoke an API token."""
        self.request("DELETE", f"/api-tokens/{_seg(token_id)}")

    # -- catalog ------------------------------------------------------------------------------

    def catalog(self) -> dict[str, Any]:
        """The operations an MCP server can expose, with the tags and method groups to scope them."""
        found: dict[str, Any] = self.request("GET", "/catalog")
        return found
