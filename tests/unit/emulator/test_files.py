"""Hand-built artifact files are valid."""

import io
import struct
import zipfile
import zlib

from gumloop_mcp.emulator import files


def test_png_chunks_have_valid_crcs() -> None:
    """The PNG signature and IHDR CRC are right."""
    data = files.png(2, 3)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    length = struct.unpack(">I", data[8:12])[0]
    chunk = data[12 : 16 + length]
    assert struct.unpack(">I", data[16 + length : 20 + length])[0] == zlib.crc32(chunk)
    assert struct.unpack(">II", data[16:24]) == (2, 3)


def test_docx_and_xlsx_are_zip_packages_with_their_main_parts() -> None:
    """OOXML packages contain content types and the main document part."""
    with zipfile.ZipFile(io.BytesIO(files.docx(["hello"]))) as z:
        assert b"hello" in z.read("word/document.xml")
    with zipfile.ZipFile(io.BytesIO(files.xlsx([["a", "b"]]))) as z:
        assert "[Content_Types].xml" in z.namelist()
        assert b"<t>b</t>" in z.read("xl/worksheets/sheet1.xml")


def test_pdf_xref_offsets_point_at_objects() -> None:
    """Each xref entry points at 'N 0 obj'."""
    data = files.pdf("Hi (there)")
    xref = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    entries = data[xref:].split(b"\n")[3:8]
    for number, entry in enumerate(entries, start=1):
        offset = int(entry[:10])
        assert data[offset:].startswith(f"{number} 0 obj".encode())
