"""The Dockerfile builds on the classic builder with or without a seed wheelhouse, ships only the venv,
and deploy/README.md describes the stages it really has. Static checks: no Docker needed."""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
WILDCARD = re.compile(r"[*?\[]")


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def _stages() -> list[Stage]:
    stages: list[Stage] = []
    for keyword, rest in _instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            words = rest.split()
            assert len(words) == 3 and words[1].upper() == "AS", f"every stage is named: FROM {rest}"
            stages.append(Stage(words[2]))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


def _copy_parts(rest: str) -> tuple[dict[str, str], list[str], str]:
    """COPY/ADD arguments as (--flags, sources, destination)."""
    words = shlex.split(rest)
    flags = {}
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        flags[name] = value
    assert len(words) >= 2, f"COPY {rest}"
    return flags, words[:-1], words[-1]


def _in_build_context(path: str) -> bool:
    """Whether .dockerignore (an exclude-all list with `!` exceptions) sends `path` to the builder."""
    included = True
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            included = negated
    return included


def test_every_copy_from_the_context_has_a_source_that_always_exists():
    """A COPY whose sources are all wildcards fails on the classic builder when nothing matches
    ("COPY failed: no source files were specified"), e.g. the optional .cache/wheelhouse on the public
    path (BASE_IMAGE=python:3.12-slim, no wheelhouse made). Each COPY from the build context names at
    least one literal source that exists and is not excluded by .dockerignore."""
    copies = [
        rest
        for stage in _stages()
        for keyword, rest in stage.instructions
        if keyword in {"COPY", "ADD"} and "from" not in _copy_parts(rest)[0]
    ]
    assert copies
    for rest in copies:
        _, sources, destination = _copy_parts(rest)
        literal = [s for s in sources if not WILDCARD.search(s)]
        assert literal, f"COPY {rest}: only wildcard sources, which may match nothing"
        for source in literal:
            assert (REPO / source).exists(), f"COPY {rest}: {source} does not exist"
            assert _in_build_context(source.rstrip("/")), f"COPY {rest}: .dockerignore drops {source}"
        if len(sources) > 1:
            assert destination.endswith("/"), f"COPY {rest}: several sources need a directory destination"


def test_the_seed_wheelhouse_is_still_copied_when_it_exists():
    """The optional wheelhouse keeps a (wildcard) source that matches .cache/wheelhouse and is sent."""
    seeds = [
        _copy_parts(rest)
        for stage in _stages()
        for keyword, rest in stage.instructions
        if keyword == "COPY" and "wheelhous" in rest
    ]
    assert len(seeds) == 1
    _, sources, destination = seeds[0]
    assert any(WILDCARD.search(s) and fnmatch.fnmatch(".cache/wheelhouse", s) for s in sources)
    assert _in_build_context(".cache/wheelhouse")
    assert any(
        keyword == "RUN" and f"--find-links {destination.rstrip('/')}" in rest
        for stage in _stages()
        for keyword, rest in stage.instructions
    )


def test_the_runtime_stage_copies_the_venv_and_no_wheels():
    """Wheels are needed only at install time: no `pip wheel -w DIR` output lies in (or contains) a
    path the final stage copies from another stage, and the final stage runs no pip install."""
    stages = _stages()
    final = stages[-1]
    wheel_dirs = {
        match.rstrip("/")
        for stage in stages[:-1]
        for keyword, rest in stage.instructions
        if keyword == "RUN"
        for match in re.findall(r"\bpip wheel\b[^&;]*?-w\s+(\S+)", rest)
    }
    assert wheel_dirs, "the build stage makes wheels"
    copied = [
        source.rstrip("/")
        for keyword, rest in final.instructions
        if keyword == "COPY" and "from" in _copy_parts(rest)[0]
        for source in _copy_parts(rest)[1]
    ]
    assert copied == ["/opt/venv"]
    for wheels in wheel_dirs:
        for source in copied:
            assert not (wheels == source or wheels.startswith(source + "/")), (
                f"the runtime image carries {wheels} (copied with {source})"
            )
    assert not [rest for keyword, rest in final.instructions if keyword == "RUN" and "pip" in rest]


def test_deploy_readme_describes_the_stages_the_dockerfile_has():
    """deploy/README.md's numbered stage list names exactly the Dockerfile's stages, in order."""
    readme = (REPO / "deploy" / "README.md").read_text()
    section = readme.split("## The image", 1)[1].split("\n## ", 1)[0]
    described = re.findall(r"^\d+\. \*\*([\w-]+)\*\*", section, flags=re.MULTILINE)
    assert described == [stage.name for stage in _stages()]
