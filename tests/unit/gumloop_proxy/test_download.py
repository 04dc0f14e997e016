"""Unit tests: signed-URL downloads with a byte ceiling, timeout and expiry mapping (httpx MockTransport)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from services.gumloop_proxy import errors
from services.gumloop_proxy.download import artifact_host_refusal, check_download_host, download_limited

URL = "https://storage.example.test/bucket/report%20q1.csv?X-Goog-Signature=sekrit"


def _client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_small_file_is_read_whole_with_name_from_url_and_media_type():
    """A file under the ceiling comes back complete, named from the URL path."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"a,b\n1,2\n", headers={"content-type": "text/csv; charset=utf-8"})

    async with _client(handler) as client:
        result = await download_limited(client, URL, max_bytes=1000, timeout_s=5)
    assert result.data == b"a,b\n1,2\n"
    assert (result.media_type, result.filename, result.total_size, result.complete) == (
        "text/csv",
        "report q1.csv",
        8,
        True,
    )


async def test_content_disposition_names_the_file():
    """Content-Disposition's filename wins over the URL path."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=b"x", headers={"content-disposition": 'attachment; filename="out.txt"'}
        )

    async with _client(handler) as client:
        result = await download_limited(client, URL, max_bytes=10, timeout_s=5)
    assert result.filename == "out.txt"


async def test_reading_stops_at_the_byte_ceiling():
    """A body over the ceiling is cut at max_bytes, marked incomplete, total from Content-Length."""
    served: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(100):
            served.append(1)
            yield b"x" * 1000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body(), headers={"content-length": "100000"})

    async with _client(handler) as client:
        result = await download_limited(client, URL, max_bytes=2500, timeout_s=5)
    assert len(result.data) == 2500
    assert result.complete is False and result.total_size == 100000
    assert len(served) < 100


@pytest.mark.parametrize("status", [403, 410])
async def test_refused_signed_link_is_reported_as_expired(status: int):
    """403/410 on a signed link mean it expired; the message says to fetch a fresh one and hides the query."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status)

    async with _client(handler) as client:
        with pytest.raises(errors.DownloadFailed) as caught:
            await download_limited(client, URL, max_bytes=10, timeout_s=5)
    assert caught.value.expired is True
    assert "expired" in str(caught.value) and "sekrit" not in str(caught.value)


async def test_server_error_and_connection_failure_are_download_failures():
    """5xx and transport errors raise DownloadFailed (not expired) without the signature."""

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    for handler in (broken, refused):
        async with _client(handler) as client:
            with pytest.raises(errors.DownloadFailed) as caught:
                await download_limited(client, URL, max_bytes=10, timeout_s=5)
        assert caught.value.expired is False and "sekrit" not in str(caught.value)


async def test_slow_download_times_out():
    """A download slower than the overall timeout raises UpstreamTimeout."""

    async def body() -> AsyncIterator[bytes]:
        yield b"x"
        await asyncio.Event().wait()
        yield b"never"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    async with _client(handler) as client:
        with pytest.raises(errors.UpstreamTimeout):
            await download_limited(client, URL, max_bytes=10_000, timeout_s=0.05)


def test_download_host_check():
    """Only http(s) URLs to allowed hosts pass."""
    check_download_host("https://Storage.Example.test/x", ["storage.example.test"])
    with pytest.raises(errors.DownloadFailed):
        check_download_host("https://evil.test/x", ["storage.example.test"])
    with pytest.raises(errors.InvalidArguments):
        check_download_host("file:///etc/passwd", ["storage.example.test"])
    with pytest.raises(errors.InvalidArguments):
        check_download_host("ftp://storage.example.test/x", ["storage.example.test"])


async def test_redirects_are_not_followed():
    """A redirect from the signed link is a download failure, never followed."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "http://169.254.169.254/"})

    async with _client(handler) as client:
        with pytest.raises(errors.DownloadFailed, match="redirect"):
            await download_limited(client, URL, max_bytes=10, timeout_s=5)


def test_an_artifact_link_to_a_private_ip_literal_is_refused_unless_it_is_the_accounts_own_host():
    """Without an allow-list any public https host passes; private/loopback IP literals do not."""
    own = ["127.0.0.1", "api.gumloop.com"]
    assert artifact_host_refusal("https://storage.googleapis.com/b/o?sig=x", own, []) is None
    assert artifact_host_refusal("http://127.0.0.1:8080/__files/x", own, []) is None
    for url in ("https://10.0.0.5/secret", "https://[::1]/x", "https://192.168.1.1/", "https://127.0.0.2/"):
        assert artifact_host_refusal(url, own, []) is not None, url
    assert artifact_host_refusal("http://storage.googleapis.com/o", own, []) is not None
    assert artifact_host_refusal("https://10.0.0.5/ok", own, ["10.0.0.5"]) is None
    assert artifact_host_refusal("https://other.test/x", own, ["files.test"]) is not None
    assert artifact_host_refusal("file:///etc/passwd", own, []) is not None


async def test_an_artifact_is_downloaded_without_the_accounts_credential():
    """The signed link is fetched bare: the Gumloop key goes to Gumloop's API only, never to the file host."""
    from datetime import UTC, datetime

    from pydantic import SecretStr

    from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
    from services.gumloop_proxy.accounts import StoredAccount
    from services.gumloop_proxy.catalog import default_catalog
    from services.gumloop_proxy.servicer import ProxyServicer
    from services.gumloop_proxy.settings import ProxySettings
    from services.gumloop_proxy.upstream import Upstream

    account = StoredAccount(
        id="acct_1", display_name="a", credential_kind="api_key", secret=SecretStr("gl-secret-key"),
        user_id="u1", team_id="", project_id="", api_base_url="https://api.example.test/api/v1",
        stream_base_url="https://api.example.test/ws", max_concurrency=2, created_at=datetime.now(UTC),
    )  # fmt: skip
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/download"):
            link = "https://files.example.test/blob/report.txt?sig=abc"
            return httpx.Response(200, json={"download_url": link, "media_type": "text/plain"})
        return httpx.Response(200, content=b"hello", headers={"content-type": "text/plain"})

    class Store:
        async def get(self, account_id: str) -> StoredAccount:
            return account

    settings = ProxySettings()
    upstream = Upstream(settings, transport=httpx.MockTransport(handler))
    servicer = ProxyServicer(settings, default_catalog(), Store(), upstream)  # type: ignore[arg-type]
    request = pb.ReadArtifactRequest(account_id="acct_1", artifact_id="art_1")
    answer = await servicer._read_artifact(request, None)
    await upstream.close()
    assert "hello" in answer.content.markdown.text
    api, download = seen
    assert api.headers["authorization"] == "Bearer gl-secret-key"
    assert download.url.host == "files.example.test"
    assert "authorization" not in download.headers and "x-auth-key" not in download.headers
