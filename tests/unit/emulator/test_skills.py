"""Skill package validation."""

import io
import zipfile

import pytest

from gumloop_mcp.emulator.skills import SkillError, collect, validate

GOOD = b"---\nname: pdf-summary\ndescription: Summarises PDFs\n---\nBody\n"


def test_a_single_markdown_file_becomes_skill_md() -> None:
    """One .md upload is stored as SKILL.md and its front matter read."""
    files = collect([("whatever.md", GOOD)], 1000)
    assert validate(files) == ("pdf-summary", "Summarises PDFs")


def test_a_zip_with_skill_md_at_root_is_accepted() -> None:
    """Zip archives are unpacked."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("SKILL.md", GOOD)
        z.writestr("scripts/run.py", "print(1)")
    files = collect([("s.skill", buf.getvalue())], 100000)
    assert set(files) == {"SKILL.md", "scripts/run.py"}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"no front matter", "must start with YAML front matter"),
        (b"---\nname: x\n", "not closed"),
        (b"---\ndescription: d\n---\n", "needs a 'name'"),
        (b"---\nname: ok-name\n---\n", "needs a 'description'"),
        (b"---\nname: Bad Name\ndescription: d\n---\n", "lowercase"),
    ],
)
def test_bad_skill_md_is_rejected_with_a_clear_message(content: bytes, needle: str) -> None:
    """Each defect is named."""
    with pytest.raises(SkillError, match=needle) as err:
        validate(collect([("SKILL.md", content)], 1000))
    assert err.value.status == 400


def test_uploads_over_the_limit_are_413() -> None:
    """Size limit gives status 413."""
    with pytest.raises(SkillError) as err:
        collect([("SKILL.md", GOOD)], 10)
    assert err.value.status == 413


def test_unsafe_archive_paths_are_rejected() -> None:
    """Path traversal in archives is refused."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../evil", "x")
    with pytest.raises(SkillError, match="unsafe path"):
        collect([("s.zip", buf.getvalue())], 1000)


@pytest.mark.parametrize("name", ["../../etc/x", "/etc/passwd", "a/../../x.py", "C:\\evil.py", ""])
def test_unsafe_loose_file_names_are_rejected_like_archive_paths(name: str) -> None:
    """Loose files end up in the skill's zip: a traversing name would be a zip-slip for whoever unpacks it."""
    with pytest.raises(SkillError, match="unsafe path"):
        collect([("SKILL.md", GOOD), (name, b"x")], 1000)
