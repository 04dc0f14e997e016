"""What each service leaves unimported until it needs it, so an idle process stays small.

redis-py (~20 MiB resident with what it pulls in) is imported only with a Redis store; jsonschema only
by a process that validates (the token service never does); the artifact decoders only when a file
is decoded. Each service's composition module is imported in a fresh interpreter and its modules read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DECODERS = ("pypdf", "docx", "openpyxl", "markdownify", "bs4")


def _imported_after(module: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "print(json.dumps(list(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True, timeout=60
    ).stdout
    return {name.split(".")[0] for name in json.loads(out)}


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("services.tokens.server", ("redis", "jsonschema", *DECODERS)),
        ("services.gumloop_proxy.server", ("redis", *DECODERS)),
        ("services.mcp_facade.server", ("redis", "jsonschema", *DECODERS)),
    ],
)
def test_a_service_does_not_import_what_it_does_not_use_yet(module: str, absent: tuple[str, ...]) -> None:
    imported = _imported_after(module)
    assert "grpc" in imported  # the service itself was imported
    assert sorted(imported.intersection(absent)) == []
