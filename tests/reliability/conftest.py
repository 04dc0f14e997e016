"""The real system for reliability tests: `gumloop-mcp up --json` on free loopback ports, and the
façade's own process (found among `up`'s children) so tests can read its resident memory.

The façade runs with its default bounds, except a header timeout of 3 s (default 10 s) so that
the slow-header test stays short, and 600 connections at most (default 2,000) so that filling
them takes well under that timeout on a busy machine.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.upstack import read_ready

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 90.0
HEADER_TIMEOUT_S = 6.0  # long enough to open MAX_CONNECTIONS on a loaded 2-core machine (about 2 s)
MAX_CONNECTIONS = 600


@dataclass
class Facade:
    """What `up --json` reported, and the façade process's id."""

    ready: dict[str, Any]
    pid: int
    stderr_path: Path

    @property
    def mcp_url(self) -> str:
        return str(self.ready["mcp_url"])

    @property
    def port(self) -> int:
        return int(self.mcp_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])

    @property
    def admin(self) -> str:
        return str(self.ready["admin_url"])

    def rss_mib(self) -> float:
        """The façade's resident memory (VmRSS) in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS line")

    def logs(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _facade_pid(parent: int) -> int:
    """The child of `parent` running `python -m services.mcp_facade`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"services.mcp_facade" in cmdline:
            return int(entry.name)
    raise RuntimeError("the façade process was not found among `up`'s children")


@pytest.fixture(scope="module")
def facade(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Facade]:
    """The running system shared by a module's tests, with the façade's pid."""
    base = tmp_path_factory.mktemp("reliability")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUMLOOP_", "GMCP_"))}
    env["GMCP_EMULATOR_TIME_SCALE"] = "0.01"
    env["GMCP_FACADE_HEADER_TIMEOUT_S"] = str(HEADER_TIMEOUT_S)
    env["GMCP_FACADE_MAX_CONNECTIONS"] = str(MAX_CONNECTIONS)
    stderr_path = base / "stderr.log"
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "gumloop_mcp.cli", "up", "--json"]
            + ["--mcp-port", "0", "--admin-port", "0", "--tokens-port", "0", "--proxy-port", "0"]
            + ["--emulator-port", "0", "--data-dir", str(base / "data")],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            cwd=ROOT,
        )
    try:
        ready = read_ready(process, timeout_s=READY_TIMEOUT_S)
        yield Facade(ready, _facade_pid(process.pid), stderr_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(autouse=True)
def _collect_client_sockets() -> Iterator[None]:
    """These tests open hundreds of raw client sockets; any whose transport was still closing when the
    test's loop ended is collected here, with its ResourceWarning silenced, instead of surfacing as an
    unraisable-exception failure of whatever test runs next (the client's leak, not the façade's)."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
