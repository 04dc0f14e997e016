"""Decoding downloaded content by media type into Markdown, image bytes or metadata only.

Text, JSON, CSV, Markdown, HTML, PDF, DOCX and XLSX become a window of Markdown (offset/limit, a
truncation marker, total_chars, next_offset). A zip archive (a skill package, a zipped artifact)
becomes its file list plus the text of its text files, SKILL.md first; binary members are listed,
never inlined. Images under the cap come back as bytes. Anything else, and any document that cannot
be parsed, comes back as metadata only; raw bytes are never passed off as text.

Rendering is CPU work (a 24 MB CSV takes seconds): the servicer runs it through `ContentDecoder`,
on a small pool of worker threads (`decode_workers`) so the event loop keeps answering other RPCs,
with the rendered Markdown of complete downloads kept by SHA-256 in a `RenderCache` (an LRU bounded
by the memory its texts hold, `decode_cache_max_bytes`) so paging through one artifact renders it once.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import hashlib
import io
import json
import logging
import sys
import threading
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

__all__ = ["ContentDecoder", "RenderCache", "decode_content", "ignore_library_warnings", "sniff_format"]

logger = logging.getLogger(__name__)


def ignore_library_warnings() -> None:
    """Silence openpyxl's notes on a workbook it reads, once for the process.

    openpyxl warns (UserWarning, from its own modules) about what it cannot keep of a workbook: no
    default style, unsupported extensions, DrawingML, unreadable headers; that is the document's
    business, not the proxy's. pypdf 7 reports the repairs of a damaged PDF through its loggers, not
    warnings (its warnings are deprecations, which should surface). The filter is installed here at
    import rather than per rendering: catch_warnings() swaps the process-global filter list and is
    not thread-safe, so two renderings on the decoder's workers could leave "ignore everything"
    installed. Calling this again adds nothing (an identical filter is replaced).
    """
    warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")


ignore_library_warnings()

# DOCX and XLSX are zip archives: refuse to inflate more than this (a zip bomb fits in 25 MB).
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
# A zip archive's rendering lists at most this many members and inlines text members up to this size
# each (larger ones are listed only), at most this much text in all.
MAX_ARCHIVE_MEMBERS = 1000
MAX_ARCHIVE_TEXT_MEMBER_BYTES = 1024 * 1024
MAX_ARCHIVE_TEXT_BYTES = 16 * 1024 * 1024
TRUNCATION_MARKER = "\n\n[… truncated: continue with offset={next_offset} of {total} characters]"
_IMAGES = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
_MEDIA_FORMATS = {
    "text/plain": "text",
    "application/json": "json",
    "text/json": "json",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    **{media: name for name, media in _IMAGES.items()},
    "image/jpg": "jpeg",
}
_EXTENSIONS = {
    "txt": "text", "log": "text", "json": "json", "csv": "csv", "md": "markdown", "markdown": "markdown",
    "html": "html", "htm": "html", "pdf": "pdf", "docx": "docx", "xlsx": "xlsx", "png": "png",
    "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "webp": "webp", "zip": "zip", "skill": "zip",
}  # fmt: skip
_ARCHIVES = {"pdf", "docx", "xlsx", "zip"}  # parsed whole: never from a partial download
_GENERIC = {
    "",
    "application/octet-stream",
    "binary/octet-stream",
    "application/x-download",
    "application/zip",
}
_FORMAT_MEDIA = {
    "text": "text/plain", "json": "application/json", "csv": "text/csv", "markdown": "text/markdown",
    "html": "text/html", "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", **_IMAGES,
    "zip": "application/zip",
}  # fmt: skip


def _magic(data: bytes) -> str | None:
    head = data[:16]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"PK\x03\x04"):
        window = data[:4096]
        if b"word/" in window:
            return "docx"
        if b"xl/" in window:
            return "xlsx"
        return "zip"
    if head.startswith(b"PK\x05\x06"):  # an empty archive: only the end-of-directory record
        return "zip"
    return None


def sniff_format(data: bytes, media_type: str, filename: str) -> str | None:
    """The renderable format ("csv", "pdf", "png", ...) or None for an opaque binary."""
    media = media_type.split(";")[0].strip().lower()
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    magic = _magic(data)
    if media not in _GENERIC:
        declared = _MEDIA_FORMATS.get(media)
        if declared is None and media.startswith("text/"):
            declared = _EXTENSIONS.get(extension, "text")
        if declared is None and media.endswith("+json"):
            declared = "json"
        # Trust a binary signature over a declared text type (a PDF labelled text/plain).
        if magic is not None and (declared is None or declared in {"text", "markdown"}):
            return magic
        if declared is not None:
            return declared
    if magic is not None:
        return magic
    by_extension = _EXTENSIONS.get(extension)
    if by_extension is not None and by_extension not in {*_ARCHIVES, *_IMAGES}:
        return by_extension if _looks_like_text(data) else None
    return by_extension


def _looks_like_text(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(sample) - 4  # a multi-byte character cut at the sample's end
    return True


def _text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="replace")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")


def markdown_table(rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table, the first row as header; pipes escaped, ragged rows padded."""
    materialized = [list(row) for row in rows]
    if not materialized:
        return "_(empty table)_"
    width = max(len(row) for row in materialized) or 1
    padded = [row + [""] * (width - len(row)) for row in materialized]
    lines = ["| " + " | ".join(_cell(c) for c in padded[0]) + " |", "|" + " --- |" * width]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in padded[1:])
    return "\n".join(lines)


def _render_json(data: bytes) -> str:
    parsed = json.loads(_text(data))
    return "```json\n" + json.dumps(parsed, indent=2, ensure_ascii=False) + "\n```"


def _render_csv(data: bytes) -> str:
    text = _text(data)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    return markdown_table(csv.reader(io.StringIO(text), dialect))


def _render_html(data: bytes) -> str:
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(_text(data), "html.parser")
    # Scripts, styles and templates are code, not content.
    for element in soup(["script", "style", "noscript", "template", "head"]):
        element.decompose()
    rendered: str = MarkdownConverter(heading_style="ATX").convert_soup(soup)
    return rendered.strip()


def _render_pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    pages = [
        f"## Page {i}\n\n{(page.extract_text() or '').strip()}" for i, page in enumerate(reader.pages, 1)
    ]
    if not pages:
        raise ValueError("the PDF has no pages")
    return "\n\n".join(pages)


def _check_unpacked(archive: zipfile.ZipFile) -> None:
    unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise ValueError(f"the archive would unpack to {unpacked} bytes")


def _check_unpacked_size(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        _check_unpacked(archive)


def _member_order(info: zipfile.ZipInfo) -> tuple[int, int, str]:
    """SKILL.md first (the shallowest), then every member by path."""
    name = info.filename
    is_skill = name.rsplit("/", 1)[-1].lower() == "skill.md"
    return (0 if is_skill else 1, name.count("/"), name)


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`."""
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _member_text(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    """A member's text, or None when it is not inlined (why goes into the listing)."""
    with archive.open(info) as member:
        raw = member.read(MAX_ARCHIVE_TEXT_MEMBER_BYTES + 1)
    if len(raw) > MAX_ARCHIVE_TEXT_MEMBER_BYTES or not _looks_like_text(raw):
        return None
    return _text(raw)


def _render_zip(data: bytes) -> str:
    """The archive's members (path, size) as a table, then each text member's content: Markdown as
    it is, other text in a code fence. Encrypted, binary and oversized members are only listed."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        _check_unpacked(archive)
        members = sorted((i for i in archive.infolist() if not i.is_dir()), key=_member_order)
        shown = members[:MAX_ARCHIVE_MEMBERS]
        unpacked = sum(i.file_size for i in members)
        rows: list[list[Any]] = [["file", "size", "shown"]]
        sections: list[str] = []
        budget = MAX_ARCHIVE_TEXT_BYTES
        for info in shown:
            name = info.filename.replace("\r", " ").replace("\n", " ")
            if info.flag_bits & 0x1:
                rows.append([name, _size_text(info.file_size), "no: encrypted"])
                continue
            if info.file_size > min(MAX_ARCHIVE_TEXT_MEMBER_BYTES, budget):
                rows.append([name, _size_text(info.file_size), "no: too large"])
                continue
            text = _member_text(archive, info)
            if text is None:
                rows.append([name, _size_text(info.file_size), "no: binary"])
                continue
            budget -= info.file_size
            rows.append([name, _size_text(info.file_size), "below"])
            if name.lower().endswith((".md", ".markdown")):
                sections.append(f"## {name}\n\n{text.strip()}")
            else:
                fence = _fence(text)
                language = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
                sections.append(f"## {name}\n\n{fence}{language}\n{text.rstrip()}\n{fence}")
    count = f"{len(members)} file" + ("" if len(members) == 1 else "s")
    head = f"# Archive: {count}, {_size_text(unpacked)} unpacked"
    if len(members) > len(shown):
        head += f" (the first {len(shown)} listed)"
    return "\n\n".join([head, markdown_table(rows), *sections])


def _render_docx(data: bytes) -> str:
    import docx

    _check_unpacked_size(data)

    document = docx.Document(io.BytesIO(data))
    blocks: list[str] = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name or "").lower() if paragraph.style is not None else ""
        if style.startswith("heading") and style[-1:].isdigit():
            blocks.append("#" * min(6, int(style[-1])) + " " + text)
        elif style == "title":
            blocks.append("# " + text)
        elif "list" in style:
            blocks.append("- " + text)
        else:
            blocks.append(text)
    blocks.extend(
        markdown_table([c.text for c in row.cells] for row in table.rows) for table in document.tables
    )
    return "\n\n".join(blocks)


def _render_xlsx(data: bytes) -> str:
    import openpyxl

    _check_unpacked_size(data)

    # Its warnings about the workbook are silenced once, at import (ignore_library_warnings).
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets = []
        for sheet in book.worksheets:
            rows = [row for row in sheet.iter_rows(values_only=True) if any(c is not None for c in row)]
            sheets.append(f"## Sheet: {sheet.title}\n\n{markdown_table(rows)}")
    finally:
        book.close()
    return "\n\n".join(sheets)


_TEXT_FORMATS = {"text", "markdown", "json", "csv", "html"}
_RENDERERS: dict[str, Callable[[bytes], str]] = {
    "text": _text,
    "markdown": _text,
    "json": _render_json,
    "csv": _render_csv,
    "html": _render_html,
    "pdf": _render_pdf,
    "docx": _render_docx,
    "xlsx": _render_xlsx,
    "zip": _render_zip,
}


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


def _text_bytes(text: str) -> int:
    """The memory `text` holds: 1, 2 or 4 bytes a character by its widest one, plus the header
    (one emoji makes a whole ASCII text 4 bytes a character, so neither len() nor its UTF-8 size bound it)."""
    return sys.getsizeof(text)


class RenderCache:
    """Rendered Markdown by (SHA-256, format): an LRU whose texts hold at most `max_bytes` bytes of
    memory in all (sys.getsizeof, measured once at insert) and at most `max_entries` renderings.
    Thread-safe (the decoder's workers share it)."""

    def __init__(self, max_bytes: int, max_entries: int = 16) -> None:
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._bytes = 0
        self._entries: OrderedDict[tuple[str, str], tuple[str, str, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[str, str] | None:
        """(format, text) rendered for `key`, or None."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            self._entries.move_to_end(key)
            return hit[0], hit[1]

    def put(self, key: tuple[str, str], fmt: str, text: str) -> None:
        """Keep `text` for `key` (one rendering larger than the whole cache is not kept)."""
        size = _text_bytes(text)
        if size > self._max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[2]
            self._entries[key] = (fmt, text, size)
            self._bytes += size
            while self._bytes > self._max_bytes or len(self._entries) > self._max_entries:
                _, (_, _, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    @property
    def size_bytes(self) -> int:
        """The memory the cached texts hold, as counted against `max_bytes`."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class ContentDecoder:
    """`decode_content` off the event loop: at most `workers` renderings at once (the rest wait
    their turn), each in a worker thread, with an optional RenderCache. One per process."""

    def __init__(self, workers: int, cache_max_bytes: int = 0) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="proxy-decode")
        self.cache = RenderCache(cache_max_bytes) if cache_max_bytes > 0 else None

    async def decode(
        self,
        data: bytes,
        *,
        media_type: str,
        filename: str,
        offset: int = 0,
        limit: int,
        max_image_bytes: int,
        total_size: int | None = None,
        complete: bool = True,
    ) -> pb.DecodedContent:
        """`decode_content(...)` in a worker thread; a caller that goes away while it waits for a
        worker frees its place (a rendering already running finishes in its thread)."""
        work = functools.partial(
            decode_content,
            data,
            media_type=media_type,
            filename=filename,
            offset=offset,
            limit=limit,
            max_image_bytes=max_image_bytes,
            total_size=total_size,
            complete=complete,
            cache=self.cache,
        )
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def close(self) -> None:
        """Stop the workers; renderings not started are dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def decode_content(
    data: bytes,
    *,
    media_type: str,
    filename: str,
    offset: int = 0,
    limit: int,
    max_image_bytes: int,
    total_size: int | None = None,
    complete: bool = True,
    cache: RenderCache | None = None,
) -> pb.DecodedContent:
    """Decode `data` (possibly cut short when not `complete`) into a DecodedContent.

    CPU-bound for large documents: call it from a worker thread (ContentDecoder), not the event loop.
    With `cache`, the Markdown of complete data is rendered once per (SHA-256, format).
    """
    fmt = sniff_format(data, media_type, filename)
    declared = media_type.split(";")[0].strip().lower()
    media = declared if declared not in _GENERIC or fmt is None else _FORMAT_MEDIA.get(fmt, declared)
    size = total_size if total_size is not None else len(data)
    result = pb.DecodedContent(
        filename=filename, media_type=media or "application/octet-stream", size_bytes=size
    )
    if complete:
        result.sha256 = hashlib.sha256(data).hexdigest()

    def metadata(reason: str) -> pb.DecodedContent:
        result.metadata_only.CopyFrom(pb.MetadataOnly(reason=reason))
        return result

    if fmt is None:
        return metadata(f"binary file ({result.media_type}) is not rendered")
    if fmt in _IMAGES:
        if size > max_image_bytes or not complete:
            return metadata(f"image of {_size_text(size)} exceeds the {_size_text(max_image_bytes)} cap")
        result.media_type = _IMAGES[fmt]
        result.image.CopyFrom(pb.ImageContent(data=data, media_type=_IMAGES[fmt]))
        return result
    if not complete and fmt in _ARCHIVES:
        return metadata(
            f"{fmt.upper()} of {_size_text(size)} is larger than the download limit and cannot be "
            "rendered in part"
        )
    if fmt in _TEXT_FORMATS and not _looks_like_text(data):
        return metadata(f"declared as {fmt} but the content is binary; it is not rendered")
    key = (result.sha256, fmt) if complete and cache is not None else None
    cached = cache.get(key) if cache is not None and key is not None else None
    if cached is not None:
        return _window(result, cached[1], cached[0], offset, limit)
    if fmt == "json":
        try:
            text = _render_json(data)
        except (ValueError, RecursionError):
            # Invalid JSON is still text worth reading (a log, a truncated export).
            fmt, text = "text", _text(data)
        if not complete:
            text += f"\n\n[… download stopped after {_size_text(len(data))} of {_size_text(size)}]"
        if cache is not None and key is not None:
            cache.put(key, fmt, text)
        return _window(result, text, fmt, offset, limit)
    try:
        text = _RENDERERS[fmt](data)
    except Exception as exc:  # any parser failure on hostile or corrupt input is reported, never raised
        logger.info("could not render %s as %s: %s", filename, fmt, type(exc).__name__)
        return metadata(f"the {fmt.upper()} file could not be read ({type(exc).__name__}); it may be corrupt")
    if not complete:
        text += f"\n\n[… download stopped after {_size_text(len(data))} of {_size_text(size)}]"
    if cache is not None and key is not None:
        cache.put(key, fmt, text)
    return _window(result, text, fmt, offset, limit)


def _window(result: pb.DecodedContent, text: str, fmt: str, offset: int, limit: int) -> pb.DecodedContent:
    total = len(text)
    start = min(max(0, offset), total)
    end = min(total, start + max(1, limit))
    window = text[start:end]
    truncated = end < total
    if truncated:
        window += TRUNCATION_MARKER.format(next_offset=end, total=total)
    result.markdown.CopyFrom(
        pb.MarkdownContent(
            text=window,
            offset=start,
            total_chars=total,
            truncated=truncated,
            next_offset=end if truncated else 0,
            source_format=fmt,
        )
    )
    return result
