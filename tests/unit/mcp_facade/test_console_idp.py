"""The console's identity-provider pieces without a network: its allowed set from settings, the
shared allowed-set rule, and the Accept negotiation of the account OAuth callback's page."""

from __future__ import annotations

import pytest

from services.mcp_facade.console.callback import prefers_html
from services.mcp_facade.console.idp import console_allowed_set
from services.mcp_facade.oauth.oidc import AllowedSet
from services.mcp_facade.settings import FacadeSettings


def test_the_console_allowed_set_defaults_to_nobody() -> None:
    allowed = console_allowed_set(FacadeSettings())
    assert allowed.empty
    assert not allowed.allows("ada@example.com", ["staff"])
    assert not allowed.allows("", [])


def test_the_console_allowed_set_normalises_emails_and_domains() -> None:
    settings = FacadeSettings(
        console_allowed_emails=[" Ada@Example.COM "],
        console_allowed_domains=["@Ops.Example.org", " "],
        console_allowed_groups=["platform"],
    )
    allowed = console_allowed_set(settings)
    assert allowed == AllowedSet(
        frozenset({"ada@example.com"}), frozenset({"ops.example.org"}), frozenset({"platform"})
    )
    assert allowed.allows("ADA@example.com", [])
    assert allowed.allows("bob@ops.example.org", [])
    assert not allowed.allows("bob@example.org", [])  # another domain, not a suffix match
    assert not allowed.allows("bob@evil-ops.example.org", [])
    assert allowed.allows("", ["visitors", "platform"])
    assert not allowed.allows("", ["Platform"])  # groups are compared exactly


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # Chromium's navigation
        ("*/*", False),  # curl, httpx
        ("", False),
        ("application/json", False),
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0.9, application/json;q=0.8", True),
        ("text/html;q=0", False),
        ("TEXT/HTML", True),
        ("text/html;q=bogus", False),
    ],
)
def test_the_callback_answers_a_page_only_when_html_is_preferred(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html
