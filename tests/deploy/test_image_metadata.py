"""The image carries OCI labels set by scripts/build-image, and its CycloneDX SBOM (scripts/sbom) lists
every runtime package of the lock at the lock's version."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .test_dockerfile import REPO, _stages

OCI = "org.opencontainers.image."
# label -> the build argument scripts/build-image sets for it (None: a fixed value)
LABELS = {
    "title": None,
    "description": None,
    "licenses": None,
    "source": "SOURCE",
    "revision": "REVISION",
    "version": "VERSION",
    "created": "CREATED",
}


def _project() -> dict[str, object]:
    with (REPO / "pyproject.toml").open("rb") as f:
        project: dict[str, object] = tomllib.load(f)["project"]
    return project


def _final_stage_labels() -> tuple[dict[str, str], dict[str, str]]:
    """(LABEL key -> value, ARG name -> default) of the runtime stage."""
    final = _stages()[-1]
    labels: dict[str, str] = {}
    args: dict[str, str] = {}
    for keyword, rest in final.instructions:
        if keyword == "LABEL":
            labels |= dict(re.findall(r'(\S+?)="((?:[^"\\]|\\.)*)"', rest))
        elif keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
    return labels, args


def test_the_runtime_stage_declares_the_oci_labels():
    """Every OCI label on the final image; fixed ones match pyproject.toml, the others come from build
    arguments declared in that stage (the version's default is the project's version)."""
    labels, args = _final_stage_labels()
    project = _project()
    assert {k.removeprefix(OCI) for k in labels if k.startswith(OCI)} == set(LABELS)
    assert labels[OCI + "title"] == project["name"]
    assert labels[OCI + "licenses"] == project["license"]
    assert labels[OCI + "description"].startswith(str(project["description"]).rstrip("."))
    for label, arg in LABELS.items():
        if arg is not None:
            assert labels[OCI + label] == "${" + arg + "}", label
            assert arg in args, f"ARG {arg} is not declared in the runtime stage"
    assert args["VERSION"] == project["version"]
    assert args["SOURCE"].startswith("https://")


def test_build_image_passes_the_label_arguments_and_writes_the_sbom():
    """scripts/build-image sets VERSION (pyproject), REVISION (git), CREATED (commit time) and runs
    scripts/sbom."""
    script = (REPO / "scripts" / "build-image").read_text()
    for arg in ("VERSION", "REVISION", "CREATED"):
        assert f"--build-arg {arg}=" in script, arg
    assert "git rev-parse HEAD" in script
    assert '"${labels[@]}"' in script
    assert re.search(r"^scripts/sbom ", script, flags=re.MULTILINE)


def _lock_versions() -> dict[str, str]:
    with (REPO / "uv.lock").open("rb") as f:
        lock = tomllib.load(f)
    return {canonicalize_name(p["name"]): p["version"] for p in lock["package"]}


def _runtime_pins() -> dict[str, str]:
    """name -> version of requirements/runtime.txt (the lock's runtime export)."""
    text = (REPO / "requirements" / "runtime.txt").read_text().replace("\\\n", " ")
    pins: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].split(" --hash", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "=="
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def test_the_sbom_lists_the_runtime_packages_at_the_locked_versions(tmp_path: Path):
    """scripts/sbom writes a valid CycloneDX 1.6 JSON whose components are exactly the runtime
    packages, each at the version uv.lock pins (purl pkg:pypi/NAME@VERSION), under gumloop-mcp."""
    out = tmp_path / "sbom.cdx.json"
    proc = subprocess.run(
        [str(REPO / "scripts" / "sbom"), str(out)], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    bom = json.loads(out.read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    project = _project()
    root = bom["metadata"]["component"]
    assert (root["name"], root["version"], root["type"]) == (
        project["name"],
        project["version"],
        "application",
    )
    listed = {canonicalize_name(c["name"]): c for c in bom["components"]}
    pins = _runtime_pins()
    lock = _lock_versions()
    assert set(listed) == set(pins)
    for name, component in listed.items():
        assert component["version"] == lock[name] == pins[name], name
        assert component["purl"].lower() == f"pkg:pypi/{name}@{lock[name]}".lower()
    direct = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}  # type: ignore[union-attr]
    assert direct <= set(listed), f"direct dependencies missing: {direct - set(listed)}"
