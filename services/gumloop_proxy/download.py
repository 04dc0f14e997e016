"""Downloading artifacts from signed URLs with a byte ceiling and an overall timeout.

A signed link is a credential: its query string is never logged or put into an error message.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from urllib.parse import unquote, urlsplit

import httpx

from . import errors
from .egress import is_public_ip_literal

__all__ = ["DownloadResult", "artifact_host_refusal", "check_download_host", "download_limited"]

logger = logging.getLogger(__name__)
_SAFE_NAME = re.compile(r"[\x00-\x1f/\\]")


@dataclass
class DownloadResult:
    """What a download produced; `complete` is False when the byte ceiling cut it short."""

    data: bytes
    media_type: str
    filename: str
    total_size: int | None
    complete: bool


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


def check_download_host(url: str, allowed_hosts: Iterable[str]) -> None:
    """Refuse anything but http(s) URLs to one of `allowed_hosts` (exact, case-insensitive)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError as exc:
        raise errors.InvalidArguments([("download_url", "is not a valid URL")]) from exc
    if parts.scheme not in ("http", "https") or not host:
        raise errors.InvalidArguments([("download_url", "must be an http(s) URL with a host")])
    allowed = {h.strip().lower() for h in allowed_hosts if h.strip()}
    if host not in allowed:
        raise errors.DownloadFailed(f"refusing to download from host {host!r}: not an allowed download host")


def artifact_host_refusal(url: str, own_hosts: Iterable[str], allowed_hosts: Iterable[str]) -> str | None:
    """Why an artifact link may not be fetched, or None when it may.

    The account's own hosts (its base URLs) always pass. With `allowed_hosts` set, only those
    pass besides. Without, any https host with a name or a public address: the link comes from
    an upstream answer, and an IP literal in a private, loopback or reserved range would turn a
    download into a read of an internal service.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "is not an http(s) URL with a host"
    own = {h.lower() for h in own_hosts if h}
    allowed = {h.strip().lower() for h in allowed_hosts if h.strip()}
    if host in own or host in allowed:
        return None
    if allowed:
        return f"host {host!r} is not an allowed download host"
    if parts.scheme != "https":
        return f"host {host!r} is not the account's own host, so only https is accepted"
    if is_public_ip_literal(host) is False:
        return f"host {host!r} is a non-public address"
    return None


def _filename(response: httpx.Response, url: str) -> str:
    disposition = response.headers.get("content-disposition", "")
    name = ""
    if disposition:
        message = Message()
        message["content-disposition"] = disposition
        name = message.get_filename() or ""
    if not name:
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return _SAFE_NAME.sub("_", name).strip()


async def _fetch(client: httpx.AsyncClient, url: str, max_bytes: int) -> DownloadResult:
    shown = _redacted(url)
    async with client.stream("GET", url) as response:
        if response.status_code in (403, 404, 410):
            raise errors.DownloadFailed(
                f"the signed download link was refused (HTTP {response.status_code}); it has probably "
                "expired: request the artifact again for a fresh link",
                expired=True,
            )
        if 300 <= response.status_code < 400:
            # Signed links point straight at the object; a redirect could lead anywhere.
            raise errors.DownloadFailed(
                f"download from {shown} answered a redirect (HTTP {response.status_code}); "
                "redirects are not followed"
            )
        if response.status_code >= 400:
            raise errors.DownloadFailed(f"download from {shown} failed with HTTP {response.status_code}")
        length = response.headers.get("content-length")
        total = int(length) if length and length.isdigit() else None
        chunks: list[bytes] = []
        size = 0
        complete = True
        async for chunk in response.aiter_bytes():
            room = max_bytes - size
            if len(chunk) > room:
                chunks.append(chunk[:room])
                size += room
                complete = False
                break
            chunks.append(chunk)
            size += len(chunk)
        if complete and total is not None and total > size:
            complete = False  # upstream closed early
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        return DownloadResult(
            data=b"".join(chunks),
            media_type=media_type or "application/octet-stream",
            filename=_filename(response, url),
            total_size=total if total is not None else (size if complete else None),
            complete=complete,
        )


async def download_limited(
    client: httpx.AsyncClient, url: str, *, max_bytes: int, timeout_s: float
) -> DownloadResult:
    """GET `url`, reading at most `max_bytes`, all within `timeout_s` seconds."""
    shown = _redacted(url)
    try:
        async with asyncio.timeout(timeout_s):
            return await _fetch(client, url, max_bytes)
    except TimeoutError as exc:
        raise errors.UpstreamTimeout(
            f"download from {shown} did not finish within {timeout_s:g} s", operation="download"
        ) from exc
    except httpx.TimeoutException as exc:
        raise errors.UpstreamTimeout(
            f"download from {shown} timed out ({type(exc).__name__})", operation="download"
        ) from exc
    except httpx.HTTPError as exc:
        logger.info("download from %s failed: %s", shown, type(exc).__name__)
        raise errors.DownloadFailed(f"download from {shown} failed: {type(exc).__name__}") from exc
