"""Render an overlay with kustomize components switched on, as a team's own overlay would."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .conftest import DEPLOY

COMPONENTS = DEPLOY / "components"


def render_with(kubectl: str, overlay: Path, components: list[str], extra: str = "") -> list[dict[str, Any]]:
    """`kubectl kustomize` of a temporary kustomization: `overlay` as its resource plus `components`
    (names under deploy/components), and `extra` YAML appended to it. kustomize refuses absolute
    paths, so the temporary directory refers to them relatively."""
    with tempfile.TemporaryDirectory() as tmp:
        rel = Path(os.path.relpath(overlay, tmp))
        lines = [
            "apiVersion: kustomize.config.k8s.io/v1beta1",
            "kind: Kustomization",
            "resources:",
            f"  - {rel}",
            "components:",
            *(f"  - {os.path.relpath(COMPONENTS / name, tmp)}" for name in components),
        ]
        (Path(tmp) / "kustomization.yaml").write_text("\n".join(lines) + "\n" + extra)
        proc = subprocess.run(
            [kubectl, "kustomize", tmp], capture_output=True, text=True, timeout=120, check=False
        )
    assert proc.returncode == 0, f"{overlay.name} + {components} does not render: {proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
