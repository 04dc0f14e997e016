"""The committed lock is the only source of installs: it must match pyproject.toml, and the
requirement files the Dockerfile installs must be its exact export (scripts/test also checks both
before running pytest; these make the failure visible in the test report too)."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".cache" / "uv" / "bin" / "uv"


def _uv() -> Path:
    if not UV.exists():
        subprocess.run([str(ROOT / "scripts" / "ensure-uv")], check=True, capture_output=True)
    return UV


def test_lock_matches_pyproject_without_network() -> None:
    done = subprocess.run(
        [str(_uv()), "lock", "--check", "--offline"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_docker_requirements_are_the_locks_export() -> None:
    done = subprocess.run(
        [str(ROOT / "scripts" / "export-requirements"), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_every_locked_distribution_carries_a_hash() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    missing = []
    for package in lock["package"]:
        if package.get("source", {}).get("registry") is None:
            continue  # the project itself
        files = [package.get("sdist", {}), *package.get("wheels", [])]
        if not files or any(not f.get("hash", "").startswith("sha256:") for f in files if f):
            missing.append(package["name"])
    assert missing == []


@pytest.mark.parametrize("name", ["runtime.txt", "build.txt"])
def test_exported_requirements_pin_every_line_with_hashes(name: str) -> None:
    text = (ROOT / "requirements" / name).read_text()
    specs = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert specs, name
    for spec in specs:
        assert "==" in spec and spec.endswith("\\"), spec  # exact version, hashes follow
