"""Who may consent (consent_allows) and the ID-token checks of oauth/oidc.py, without a network.

The provider's keys are set directly; tokens are signed here with joserfc like a provider would.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from services.mcp_facade.contracts import ServerScope
from services.mcp_facade.oauth.oidc import OidcError, OidcProvider, consent_allows

ISSUER = "https://idp.example.com"
CLIENT = "gumloop-mcp"
NONCE = "n-123"


def _scope(**allowed: tuple[str, ...]) -> ServerScope:
    return ServerScope(server_id="mcp_a", account_id="acct", name="s", **allowed)


@pytest.mark.parametrize(
    ("allowed", "email", "groups", "admitted"),
    [
        ({"oauth_allowed_emails": ("ada@example.com",)}, "ada@example.com", (), True),
        ({"oauth_allowed_emails": ("ada@example.com",)}, "ADA@Example.com", (), True),
        ({"oauth_allowed_emails": ("ada@example.com",)}, "bob@example.com", (), False),
        ({"oauth_allowed_domains": ("example.com",)}, "bob@example.com", (), True),
        ({"oauth_allowed_domains": ("example.com",)}, "bob@evil-example.com", (), False),
        ({"oauth_allowed_domains": ("example.com",)}, "bob@sub.example.com", (), False),
        ({"oauth_allowed_domains": ("example.com",)}, "", (), False),  # unverified: no email
        ({"oauth_allowed_groups": ("eng",)}, "x@other.org", ("ops", "eng"), True),
        ({"oauth_allowed_groups": ("eng",)}, "x@other.org", ("Eng",), False),  # groups are exact
        ({}, "ada@example.com", ("eng",), False),  # nothing allowed: nobody
    ],
)
def test_consent_allows(
    allowed: dict[str, tuple[str, ...]], email: str, groups: tuple[str, ...], admitted: bool
) -> None:
    assert consent_allows(_scope(**allowed), email, groups) is admitted


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


@pytest.fixture
def signer(key: RSAKey) -> tuple[OidcProvider, RSAKey]:
    provider = OidcProvider(ISSUER, CLIENT, "secret", groups_claim="roles")
    provider._keys = KeySet([RSAKey.import_key(key.as_dict(private=False))])
    provider._metadata = {"issuer": ISSUER}
    provider._fetched_at = time.monotonic()
    return provider, key


def _token(key: RSAKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "u1", "iat": now, "exp": now + 300, "nonce": NONCE}
    claims.update(overrides)
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {k: v for k, v in claims.items() if v is not None}, key)


async def test_a_valid_id_token_gives_its_claims(signer: tuple[OidcProvider, RSAKey]) -> None:
    provider, key = signer
    claims = await provider._validated_claims(_token(key, email="ada@example.com", roles=["eng"]), NONCE)
    assert claims["sub"] == "u1" and claims["email"] == "ada@example.com" and claims["roles"] == ["eng"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"nonce": "other"},
        {"nonce": None},
        {"aud": "another-client"},
        {"aud": ["another-client", CLIENT], "azp": "another-client"},
        {"iss": "https://evil.example.com"},
        {"exp": int(time.time()) - 3600},
        {"sub": None},
    ],
)
async def test_an_unacceptable_id_token_is_refused(
    signer: tuple[OidcProvider, RSAKey], overrides: dict[str, Any]
) -> None:
    provider, key = signer
    with pytest.raises(OidcError):
        await provider._validated_claims(_token(key, **overrides), NONCE)


async def test_a_token_signed_with_another_key_is_refused_after_reading_the_keys_again(
    signer: tuple[OidcProvider, RSAKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown signature makes the provider read its JWKS once more (a rotation), then refuse."""
    provider, _ = signer
    refreshed: list[bool] = []

    async def metadata(*, refresh: bool = False) -> dict[str, Any]:
        refreshed.append(refresh)
        return {"issuer": ISSUER}

    monkeypatch.setattr(provider, "metadata", metadata)
    forged = _token(RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    with pytest.raises(OidcError, match="signature"):
        await provider._validated_claims(forged, NONCE)
    assert refreshed == [True]


def test_the_provider_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="http"):
        OidcProvider("idp.example.com", CLIENT, "s")
    with pytest.raises(ValueError, match="openid"):
        OidcProvider(ISSUER, CLIENT, "s", scopes="email profile")
