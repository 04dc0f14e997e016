"""Token format: prefix, entropy, checksum, keyed hashing."""

from gumloop_mcp.runtime import TokenKind, generate_token, hash_token, is_well_formed, token_prefix


def test_generated_token_has_prefix_and_valid_checksum() -> None:
    """A fresh token is well formed and carries its kind's prefix."""
    token = generate_token(TokenKind.MCP_URL)
    assert token.startswith("gmcp_")
    assert is_well_formed(token, TokenKind.MCP_URL)
    assert not is_well_formed(token, TokenKind.API)


def test_single_character_typo_is_rejected_by_the_checksum() -> None:
    """Changing any one body character breaks the checksum."""
    token = generate_token(TokenKind.API)
    body_start = len("gmcpat_")
    for i in range(body_start, body_start + 43, 7):
        swapped = "a" if token[i] != "a" else "b"
        assert not is_well_formed(token[:i] + swapped + token[i + 1 :])


def test_tokens_are_unique_and_hash_depends_on_pepper() -> None:
    """Two tokens differ; the stored hash changes with the pepper and never contains the token."""
    a, b = generate_token(TokenKind.MCP_URL), generate_token(TokenKind.MCP_URL)
    assert a != b
    assert hash_token(a, b"pepper-1") != hash_token(a, b"pepper-2")
    assert a not in hash_token(a, b"pepper-1")
    assert token_prefix(a) == a[:9]


def test_trailing_or_leading_characters_break_the_shape() -> None:
    """A valid token with a trailing newline (which "$" would have let through) or any extra
    character around it is not well formed."""
    token = generate_token(TokenKind.MCP_URL)
    assert is_well_formed(token)
    for variant in (token + "\n", token + "\r\n", "\n" + token, token + " ", token + "x", " " + token):
        assert not is_well_formed(variant), repr(variant)
        assert not is_well_formed(variant, TokenKind.MCP_URL), repr(variant)
