"""Signed download links."""

from gumloop_mcp.emulator import signing


def test_a_fresh_signed_link_verifies() -> None:
    """A link verifies before it expires."""
    url = signing.sign_url("http://h:1", "k", "blob_1", "a b.pdf", now=1000, ttl_s=60)
    path, query = url.removeprefix("http://h:1").split("?")
    params = dict(p.split("=") for p in query.split("&"))
    assert path == "/__files/blob_1/a%20b.pdf"
    assert signing.verify("k", path, params["expires"], params["sig"], now=1059) is None


def test_an_expired_link_is_rejected() -> None:
    """After ttl the link is refused as expired."""
    sig = signing.signature("k", "/__files/b/f", 1060)
    assert signing.verify("k", "/__files/b/f", "1060", sig, now=1061) == "link expired"


def test_a_tampered_link_is_rejected() -> None:
    """Changing expires, path or key breaks the signature."""
    sig = signing.signature("k", "/__files/b/f", 1060)
    assert signing.verify("k", "/__files/b/f", "9999", sig, now=0) == "signature mismatch"
    assert signing.verify("k", "/__files/c/f", "1060", sig, now=0) == "signature mismatch"
    assert signing.verify("other", "/__files/b/f", "1060", sig, now=0) == "signature mismatch"
    assert signing.verify("k", "/__files/b/f", None, sig, now=0) == "missing expires or sig"
