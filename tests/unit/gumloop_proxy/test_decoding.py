"""Unit tests: decoding content by media type into Markdown, images or metadata."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import threading
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docx
import openpyxl
import pytest
from pypdf import PdfWriter

from services.gumloop_proxy import decoding
from services.gumloop_proxy.decoding import ContentDecoder, RenderCache, decode_content

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _decode(data: bytes, media_type: str, filename: str = "f", **kwargs):
    kwargs.setdefault("limit", 10_000)
    kwargs.setdefault("max_image_bytes", 1000)
    return decode_content(data, media_type=media_type, filename=filename, **kwargs)


def _pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _docx() -> bytes:
    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("Revenue grew.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "k", "v"
    table.cell(1, 0).text, table.cell(1, 1).text = "a|b", "2"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _xlsx() -> bytes:
    book = openpyxl.Workbook()
    first = book.active
    first.title = "Sales"
    first.append(["region", "amount"])
    first.append(["EU", 12])
    second = book.create_sheet("Costs")
    second.append(["item", "cost"])
    second.append(["rent", 5])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx_without_default_style() -> bytes:
    """An XLSX whose stylesheet has no cell styles (as some exporters write): openpyxl warns."""
    source = zipfile.ZipFile(io.BytesIO(_xlsx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/styles.xml":
                data = data.replace(b"<cellStyles ", b"<cellStylesGone ").replace(
                    b"</cellStyles>", b"</cellStylesGone>"
                )
            target.writestr(info, data)
    return out.getvalue()


def test_plain_text_is_markdown_with_size_and_sha256():
    """Text comes back as is, with size, sha256 and source format."""
    result = _decode(b"hello", "text/plain", "a.txt")
    assert result.WhichOneof("content") == "markdown"
    assert result.markdown.text == "hello" and result.markdown.source_format == "text"
    assert result.size_bytes == 5 and result.sha256 == hashlib.sha256(b"hello").hexdigest()


def test_json_is_pretty_printed_in_a_fence():
    """JSON is pretty printed inside a json code fence."""
    result = _decode(b'{"a":[1,2]}', "application/json")
    assert result.markdown.text == '```json\n{\n  "a": [\n    1,\n    2\n  ]\n}\n```'


def test_csv_becomes_a_table_with_escaped_pipes():
    """CSV renders as a Markdown table, pipes escaped."""
    result = _decode(b"name,note\nann,a|b\nbob,ok\n", "text/csv")
    assert result.markdown.text == "| name | note |\n| --- | --- |\n| ann | a\\|b |\n| bob | ok |"
    assert result.markdown.source_format == "csv"


def test_markdown_and_html():
    """Markdown passes through; HTML is converted to Markdown without scripts."""
    assert _decode(b"# T", "text/markdown").markdown.text == "# T"
    html = _decode(b"<h1>Title</h1><p>Some <b>bold</b></p><script>alert(1)</script>", "text/html")
    assert "# Title" in html.markdown.text and "**bold**" in html.markdown.text
    assert "alert" not in html.markdown.text and html.markdown.source_format == "html"


def test_pdf_renders_pages():
    """A PDF renders page by page."""
    result = _decode(_pdf(), "application/pdf", "r.pdf")
    assert result.markdown.source_format == "pdf" and "## Page 1" in result.markdown.text


def test_corrupt_pdf_is_metadata_only_with_a_reason():
    """A corrupt PDF is reported, never raised."""
    result = _decode(b"%PDF-1.7\nthis is not really a pdf", "application/pdf", "bad.pdf")
    assert result.WhichOneof("content") == "metadata_only"
    assert "PDF" in result.metadata_only.reason and result.sha256


def test_docx_renders_headings_paragraphs_and_tables():
    """DOCX headings, paragraphs and tables become Markdown."""
    text = _decode(_docx(), "application/octet-stream", "r.docx").markdown.text
    assert "# Quarterly report" in text and "Revenue grew." in text and "| a\\|b | 2 |" in text


def test_xlsx_renders_each_sheet_as_a_table():
    """Every XLSX sheet becomes its own Markdown table."""
    result = _decode(_xlsx(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "b.xlsx")
    text = result.markdown.text
    assert "## Sheet: Sales" in text and "| EU | 12 |" in text
    assert "## Sheet: Costs" in text and "| rent | 5 |" in text


def test_paging_with_offset_limit_and_truncation_marker():
    """Long text is windowed; next_offset continues exactly where the window ended."""
    data = ("0123456789" * 10).encode()
    first = _decode(data, "text/plain", limit=30)
    assert first.markdown.truncated and first.markdown.next_offset == 30 and first.markdown.total_chars == 100
    assert first.markdown.text.startswith("0123456789" * 3) and "offset=30" in first.markdown.text
    last = _decode(data, "text/plain", offset=90, limit=30)
    assert (
        last.markdown.text == "0123456789" and not last.markdown.truncated and last.markdown.next_offset == 0
    )
    beyond = _decode(data, "text/plain", offset=500, limit=30)
    assert beyond.markdown.text == "" and beyond.markdown.offset == 100


@pytest.mark.parametrize(
    ("data", "media"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image/jpeg"),
        (b"GIF89a" + b"\x00" * 20, "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    ],
)
def test_images_under_the_cap_come_back_as_bytes(data: bytes, media: str):
    """Images under the cap are returned as bytes with their media type, sniffed when generic."""
    result = _decode(data, "application/octet-stream", "pic")
    assert result.WhichOneof("content") == "image"
    assert result.image.data == data and result.image.media_type == media and result.media_type == media


def test_image_over_the_cap_is_metadata_only():
    """An image over the cap is described, not returned."""
    result = _decode(PNG, "image/png", "p.png", max_image_bytes=10)
    assert result.WhichOneof("content") == "metadata_only" and "exceeds" in result.metadata_only.reason


def _zip(members: dict[str, bytes], *, encrypted: frozenset[str] = frozenset()) -> bytes:
    """A zip of `members`; those in `encrypted` get the encrypted flag in their local and central
    headers (zipfile cannot write encrypted members, and the renderer must only look at the flag)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    raw = bytearray(buffer.getvalue())
    for name in encrypted:
        for signature, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
            start = 0
            while (start := raw.find(signature, start)) >= 0:
                if raw[start + name_at : start + name_at + len(name)] == name.encode():
                    raw[start + flag_at] |= 0x1
                start += 4
    return bytes(raw)


def test_a_skill_package_renders_its_file_list_then_skill_md_then_its_text_files():
    """A zip: the listing (SKILL.md first, why a member is not shown), SKILL.md as Markdown, other text
    fenced (a fence longer than the backticks inside), binary and oversized members listed only."""
    data = _zip(
        {
            "scripts/run.py": b"print('```')\n",
            "assets/logo.png": PNG,
            "SKILL.md": b"---\nname: triage\n---\n# Triage\nSort the inbox.\n",
            "docs/": b"",
            "big.txt": b"x" * (decoding.MAX_ARCHIVE_TEXT_MEMBER_BYTES + 1),
        }
    )
    result = _decode(data, "application/zip", "triage.skill", limit=100_000)
    md = result.markdown
    assert result.media_type == "application/zip" and md.source_format == "zip"
    text = md.text
    assert text.startswith("# Archive: 4 files, ")
    listing = text.split("\n\n")[1].splitlines()
    assert listing[2].startswith("| SKILL.md |") and listing[2].endswith("| below |")
    assert "| assets/logo.png | 72 bytes | no: binary |" in listing
    assert any(row.startswith("| big.txt |") and row.endswith("| no: too large |") for row in listing)
    assert text.index("## SKILL.md\n\n---\nname: triage") < text.index("## scripts/run.py")
    assert "## scripts/run.py\n\n````py\nprint('```')\n````" in text
    assert "xxxx" not in text and "PNG" not in text and "docs/" not in text


def test_a_zip_artifact_without_text_is_a_listing_and_encrypted_members_are_not_read():
    data = _zip({"a.bin": b"\x00\x01", "secret.txt": b"hidden words"}, encrypted=frozenset({"secret.txt"}))
    text = _decode(data, "application/octet-stream", "bundle").markdown.text
    assert "| a.bin | 2 bytes | no: binary |" in text and "| secret.txt | 12 bytes | no: encrypted |" in text
    assert "hidden words" not in text


def test_a_zip_bomb_and_a_partial_zip_are_metadata_only(monkeypatch: pytest.MonkeyPatch):
    data = _zip({"SKILL.md": b"# S\n" * 100})
    monkeypatch.setattr(decoding, "MAX_UNPACKED_BYTES", 100)
    bomb = _decode(data, "application/zip", "s.zip")
    assert bomb.WhichOneof("content") == "metadata_only" and "could not be read" in bomb.metadata_only.reason
    partial = _decode(data[:40], "application/zip", "s.zip", total_size=len(data), complete=False)
    assert partial.WhichOneof("content") == "metadata_only" and "in part" in partial.metadata_only.reason


def test_binaries_are_metadata_only_never_text():
    """Opaque binaries return metadata only."""
    for data, media, name in [
        (b"\x00\x01\x02\xff", "application/octet-stream", "blob"),
        (b"\x00\x01\x02\xff", "application/octet-stream", "fake.txt"),
    ]:
        result = _decode(data, media, name)
        assert result.WhichOneof("content") == "metadata_only", name
        assert result.size_bytes == len(data) and result.sha256 == hashlib.sha256(data).hexdigest()


def test_generic_media_type_is_sniffed_from_extension_or_magic():
    """A generic media type is refined from magic bytes or the file extension."""
    pdf = _decode(_pdf(), "application/octet-stream", "noext")
    assert pdf.media_type == "application/pdf" and pdf.markdown.source_format == "pdf"
    csv_file = _decode(b"a,b\n1,2\n", "application/octet-stream", "t.csv")
    assert csv_file.media_type == "text/csv" and csv_file.markdown.text.startswith("| a | b |")


def test_incomplete_download_is_marked_and_partial_documents_are_not_parsed():
    """A download cut short says so; a partial PDF is metadata only."""
    text = _decode(b"abc", "text/plain", total_size=1000, complete=False)
    assert "download stopped" in text.markdown.text and text.size_bytes == 1000 and text.sha256 == ""
    pdf = _decode(_pdf()[:50], "application/pdf", total_size=5000, complete=False)
    assert pdf.WhichOneof("content") == "metadata_only"


def test_office_file_that_would_unpack_too_far_is_metadata_only(monkeypatch):
    """A DOCX whose archive inflates past the cap is refused before parsing."""
    from services.gumloop_proxy import decoding

    monkeypatch.setattr(decoding, "MAX_UNPACKED_BYTES", 100)
    result = _decode(
        _docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "r.docx"
    )
    assert result.WhichOneof("content") == "metadata_only" and "corrupt" in result.metadata_only.reason


def test_corrupt_docx_and_xlsx_are_metadata_only():
    """Truncated office files are reported with a reason, never raised."""
    for data, name in [(_docx()[:300], "a.docx"), (_xlsx()[:300], "b.xlsx")]:
        result = _decode(data, "application/octet-stream", name)
        assert result.WhichOneof("content") == "metadata_only", name


def test_binary_declared_as_text_is_not_rendered_and_invalid_json_falls_back_to_text():
    """Binary bytes labelled text are metadata only; text labelled JSON that is not JSON is shown as text."""
    binary = _decode(b"\x00\x01\x02garbage\xff", "text/plain", "x.txt")
    assert binary.WhichOneof("content") == "metadata_only"
    broken = _decode(b'{"a": 1,', "application/json", "x.json")
    assert broken.markdown.text == '{"a": 1,' and broken.markdown.source_format == "text"


def test_a_json_artifact_nested_past_the_decoders_depth_is_shown_as_text() -> None:
    """A nesting bomb in a JSON artifact is read as text, never an error out of ReadArtifact."""
    data = b"[" * 5000 + b"]" * 5000
    content = decode_content(
        data, media_type="application/json", filename="bomb.json", offset=0, limit=100,
        max_image_bytes=1000, total_size=len(data), complete=True,
    )  # fmt: skip
    assert content.markdown.text.startswith("[[[")


def test_the_render_cache_is_an_lru_bounded_by_bytes_and_entries():
    """Least recently used renderings go first; one larger than the whole cache is not kept."""
    hundred = sys.getsizeof("x" * 100)
    cache = RenderCache(max_bytes=2 * hundred + 10, max_entries=3)
    cache.put(("a", "text"), "text", "a" * 100)
    cache.put(("b", "text"), "text", "b" * 100)
    assert cache.get(("a", "text")) == ("text", "a" * 100)  # a is now the most recent
    cache.put(("c", "text"), "text", "c" * 100)  # three do not fit: b (least recent) goes
    assert cache.get(("b", "text")) is None and len(cache) == 2
    assert cache.size_bytes == 2 * hundred
    cache.put(("huge", "text"), "text", "x" * (2 * hundred))
    assert cache.get(("huge", "text")) is None and len(cache) == 2
    for name in "defg":
        cache.put((name, "text"), "text", "1")
    assert len(cache) == 3


def test_the_render_cache_bound_holds_for_non_ascii_text():
    """A character-bounded cache held up to 4 bytes a character: the bound is the texts' memory."""
    bound = 100_000
    cache = RenderCache(max_bytes=bound)
    emoji = "\N{GRINNING FACE}" * 10_000  # 10 000 characters, 40 000 bytes
    mostly_ascii = "x" * 9_999 + "\N{GRINNING FACE}"  # one emoji makes every character 4 bytes
    for i in range(5):
        cache.put((f"e{i}", "text"), "text", emoji)
        cache.put((f"m{i}", "text"), "text", mostly_ascii)
    assert len(cache) == 2
    assert cache.size_bytes <= bound
    kept = [cache.get((f"{kind}4", "text")) for kind in "em"]
    assert sum(sys.getsizeof(hit[1]) for hit in kept if hit is not None) == cache.size_bytes


def test_paging_a_cached_document_renders_it_once(monkeypatch):
    """The Markdown of complete data is kept by SHA-256: the next window reuses it."""
    from services.gumloop_proxy import decoding

    calls: list[bytes] = []
    real = decoding._RENDERERS["csv"]

    def counting(data: bytes) -> str:
        calls.append(data)
        return real(data)

    monkeypatch.setitem(decoding._RENDERERS, "csv", counting)
    cache = RenderCache(max_bytes=1_000_000)
    data = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(200))
    first = _decode(data, "text/csv", limit=50, cache=cache)
    second = _decode(data, "text/csv", offset=first.markdown.next_offset, limit=50, cache=cache)
    assert len(calls) == 1
    assert second.markdown.offset == first.markdown.next_offset
    assert second.markdown.total_chars == first.markdown.total_chars and second.sha256 == first.sha256
    # An incomplete download is never cached (its text carries the cut), and other bytes render anew.
    _decode(data, "text/csv", limit=50, cache=cache, complete=False, total_size=10_000)
    _decode(data, "text/csv", limit=50, cache=cache, complete=False, total_size=10_000)
    _decode(data + b"9,9\n", "text/csv", limit=50, cache=cache)
    assert len(calls) == 4


async def test_the_decoder_renders_in_a_worker_thread_and_bounds_how_many_run_at_once(monkeypatch):
    """The event loop stays free while a rendering runs; at most `workers` run together."""
    import asyncio
    import threading
    import time

    from services.gumloop_proxy import decoding

    loop_thread = threading.get_ident()
    running = 0
    peak = 0
    threads: set[int] = set()
    lock = threading.Lock()

    def slow(data: bytes) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.get_ident())
        time.sleep(0.2)
        with lock:
            running -= 1
        return data.decode()

    monkeypatch.setitem(decoding._RENDERERS, "text", slow)
    decoder = ContentDecoder(workers=2)
    try:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.create_task(ticker())
        results = await asyncio.gather(
            *(decoder.decode(b"doc %d" % i, media_type="text/plain", filename="f.txt", limit=100,
                             max_image_bytes=0) for i in range(4))
        )  # fmt: skip
        beat.cancel()
    finally:
        decoder.close()
    assert [r.markdown.text for r in results] == [f"doc {i}" for i in range(4)]
    assert peak == 2 and loop_thread not in threads
    assert ticks >= 20  # ~0.4 s of rendering: the loop kept running meanwhile


def test_rendering_pdf_and_xlsx_on_two_threads_leaves_the_warning_filters_alone(monkeypatch):
    """Each rendering entered catch_warnings() + simplefilter("ignore"), which is process-global and not
    thread-safe: a rendering entering while another ran saved the other's "ignore" filter and, leaving
    last, put it back for the whole process. Here the PDF starts, the XLSX starts inside it, the PDF
    ends, then the XLSX: that order left ("ignore", ...) installed."""
    import pypdf

    before = list(warnings.filters)
    pdf_inside, xlsx_inside, pdf_done = threading.Event(), threading.Event(), threading.Event()
    real_reader, real_load = pypdf.PdfReader, openpyxl.load_workbook

    def reader(*args, **kwargs):
        pdf_inside.set()
        assert xlsx_inside.wait(10)
        return real_reader(*args, **kwargs)

    def load(*args, **kwargs):
        xlsx_inside.set()
        assert pdf_done.wait(10)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(pypdf, "PdfReader", reader)
    monkeypatch.setattr(openpyxl, "load_workbook", load)

    def render_pdf() -> str:
        try:
            return _decode(_pdf(), "application/pdf").markdown.source_format
        finally:
            pdf_done.set()

    with ThreadPoolExecutor(max_workers=2) as pool:
        pdf = pool.submit(render_pdf)
        assert pdf_inside.wait(10)
        sheet = pool.submit(lambda: _decode(_xlsx(), XLSX).markdown.source_format)
        assert pdf.result(timeout=20) == "pdf" and sheet.result(timeout=20) == "xlsx"
    assert warnings.filters == before


def test_openpyxl_warnings_about_a_workbook_are_ignored_and_others_still_shown():
    """The filters installed once at import silence openpyxl's notes on a workbook it reads (no default
    style, unsupported extensions), and nothing else."""
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        decoding.ignore_library_warnings()
        decoding.ignore_library_warnings()  # idempotent: no filter twice
        text = _decode(_xlsx_without_default_style(), XLSX, "s.xlsx").markdown.text
        warnings.warn("a warning of the proxy's own", UserWarning, stacklevel=1)
        filters = list(warnings.filters)
    assert "| EU | 12 |" in text
    assert [str(w.message) for w in log] == ["a warning of the proxy's own"]
    assert len(filters) == len(set(filters))


def test_importing_the_decoder_installs_the_library_warning_filters():
    """In a fresh interpreter (default filters) the XLSX renders with no warning printed."""
    script = (
        "import sys, warnings\n"
        "from services.gumloop_proxy.decoding import decode_content\n"
        "with warnings.catch_warnings(record=True) as log:\n"
        "    result = decode_content(sys.stdin.buffer.read(), media_type=sys.argv[1], filename='s.xlsx',\n"
        "                            limit=1000, max_image_bytes=0)\n"
        "print(result.markdown.source_format, [str(w.message) for w in log])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, XLSX],
        input=_xlsx_without_default_style(),
        capture_output=True,
        cwd=Path(__file__).resolve().parents[3],
        timeout=60,
        check=True,
    )
    assert done.stdout.decode().strip() == "xlsx []", done.stderr.decode()
