"""Skill package validation: SKILL.md with YAML front matter ``name`` + ``description``, size limit."""

from __future__ import annotations

import io
import re
import zipfile

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class SkillError(ValueError):
    """A skill upload that Gumloop would reject; ``status`` is 400 or 413."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def front_matter(text: str) -> dict[str, str]:
    """``key: value`` pairs of the leading ``---`` block; SkillError when missing or malformed."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise SkillError("SKILL.md must start with YAML front matter between '---' lines")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration as exc:
        raise SkillError("SKILL.md front matter is not closed by a '---' line") from exc
    out: dict[str, str] = {}
    for line in lines[1:end]:
        if not line.strip() or line.lstrip().startswith("#") or line.startswith((" ", "\t")):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise SkillError(f"SKILL.md front matter line is not 'key: value': {line.strip()[:80]!r}")
        out[key.strip()] = value.strip().strip("'\"")
    return out


def collect(uploads: list[tuple[str, bytes]], max_bytes: int) -> dict[str, bytes]:
    """The skill's files (SKILL.md at root) from the parts: one .md, a .zip/.skill, or loose files."""
    total = sum(len(data) for _, data in uploads)
    if total > max_bytes:
        raise SkillError(f"skill upload is {total} bytes; the limit is {max_bytes} bytes (10 MB)", status=413)
    if not uploads:
        raise SkillError("no files uploaded; send SKILL.md (or a .zip/.skill archive) in the 'files' field")
    if len(uploads) == 1 and uploads[0][0].lower().endswith((".zip", ".skill")):
        return _unzip(uploads[0][1], max_bytes)
    if len(uploads) == 1 and uploads[0][0].lower().endswith(".md"):
        return {"SKILL.md": uploads[0][1]}
    for name, _ in uploads:
        _check_path(name)
    return {name.rsplit("/", 1)[-1] if name.endswith("SKILL.md") else name: data for name, data in uploads}


def _check_path(name: str) -> None:
    """SkillError for a name that could leave the skill's folder when its zip is unpacked (zip-slip)."""
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or ":" in name
        or ".." in name.split("/")
        or not name.isprintable()
    ):
        raise SkillError(f"unsafe path in skill: {name!r}")


def _unzip(data: bytes, max_bytes: int) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise SkillError("archive is not a valid zip file") from exc
    out: dict[str, bytes] = {}
    total = 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        _check_path(info.filename)
        total += info.file_size
        if total > max_bytes:
            raise SkillError("archive expands beyond the 10 MB limit", status=413)
        out[info.filename] = archive.read(info)
    return out


def validate(files: dict[str, bytes]) -> tuple[str, str]:
    """(name, description) from SKILL.md; SkillError naming what is wrong."""
    raw = files.get("SKILL.md")
    if raw is None:
        raise SkillError("SKILL.md is missing at the root of the skill")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SkillError("SKILL.md is not UTF-8 text") from exc
    meta = front_matter(text)
    name, description = meta.get("name", ""), meta.get("description", "")
    if not name:
        raise SkillError("SKILL.md front matter needs a 'name'")
    if not description:
        raise SkillError("SKILL.md front matter needs a 'description'")
    if not NAME_RE.match(name):
        raise SkillError(f"skill name {name!r} must be lowercase letters, digits and hyphens (max 64)")
    if len(description) > 1024:
        raise SkillError("skill description must be at most 1024 characters")
    return name, description
