"""The committed gRPC stubs match what the protos generate."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_committed_stubs_match_the_protos() -> None:
    """scripts/genproto --check regenerates into a temp dir and compares byte for byte."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "genproto"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout
