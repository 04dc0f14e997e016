"""The whole system for end-to-end tests: `python -m gumloop_mcp.cli up --json` with every port 0.

One stack per test module (starting four processes takes seconds); its stderr goes to a file so
tests can check that no raw token was ever logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.upstack import read_ready

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 90.0


@dataclass
class Stack:
    """What `up --json` reported, plus where its logs go."""

    ready: dict[str, Any]
    process: subprocess.Popen[bytes]
    stderr_path: Path
    # service name -> the ports its "serving" event reported (e.g. {"grpc": N, "metrics": M})
    ports: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def admin(self) -> str:
        return str(self.ready["admin_url"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.ready['api_token']}"}

    def logs(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@contextlib.contextmanager
def start_stack(base: Path, *extra_args: str, env_extra: dict[str, str] | None = None) -> Iterator[Stack]:
    """`up --json` with every port 0, data under `base` and `env_extra` in its env; SIGTERM afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUMLOOP_", "GMCP_", "OTEL_"))}
    env["GMCP_EMULATOR_TIME_SCALE"] = "0.01"
    # Tests talk to loopback only: generated inputs (schemathesis, OAuth starts) can name any host as an
    # account's base URL, and the proxy must refuse it rather than dial out.
    env["GMCP_PROXY_UPSTREAM_ALLOWED_HOSTS"] = '["127.0.0.1", "localhost"]'
    env.update(env_extra or {})
    stderr_path = base / "stderr.log"
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "gumloop_mcp.cli", "up", "--json"]
            + ["--mcp-port", "0", "--admin-port", "0", "--tokens-port", "0", "--proxy-port", "0"]
            + ["--emulator-port", "0", "--data-dir", str(base / "data"), *extra_args],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            cwd=ROOT,
        )
    try:
        ports: dict[str, dict[str, int]] = {}
        ready = read_ready(process, ports, READY_TIMEOUT_S)
        yield Stack(ready, process, stderr_path, ports)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The running system shared by a module's tests."""
    with start_stack(tmp_path_factory.mktemp("e2e")) as running:
        yield running


NODE_TOOLS_SPEC = ROOT / "scripts" / "node-tools" / "package.json"
NODE_TOOLS_DIR = ROOT / ".cache" / "node-tools"


@dataclass(frozen=True)
class NodeTools:
    """The pinned Node tools scripts/ensure-node-tools installs (paths to run with `node`)."""

    node: Path
    conformance: Path  # the 2026-07-28 line (0.2.x)
    conformance_01: Path  # 0.1.x, the 2025-11-25 line (npm alias conformance-0.1)
    mcp_remote: Path
    inspector: Path  # the Inspector's launcher (`--cli` mode)
    versions: dict[str, str]


def _installed_version(package: str) -> str | None:
    manifest = NODE_TOOLS_DIR / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(scope="session")
def node_tools() -> NodeTools:
    """The pinned conformance suite, mcp-remote, the Inspector and Node 22; missing, a skip saying how
    to get them (a failure under GMCP_REQUIRE_INTEGRATION=1, as in CI)."""
    pinned: dict[str, str] = json.loads(NODE_TOOLS_SPEC.read_text())["dependencies"]
    for package, version in pinned.items():
        installed = _installed_version(package)
        if version.startswith("npm:"):  # an alias (a second version of one package): npm:NAME@VERSION
            version = version.rsplit("@", 1)[1]
        if installed != version:
            state = "not installed" if installed is None else f"{installed} installed"
            reason = (
                f"{package}@{version} is {state} under .cache/node-tools: "
                "run scripts/ensure-node-tools (needs npm and the npm registry)"
            )
            if os.environ.get("GMCP_REQUIRE_INTEGRATION") == "1":
                pytest.fail(f"GMCP_REQUIRE_INTEGRATION=1 and {reason}", pytrace=False)
            pytest.skip(reason)
    modules = NODE_TOOLS_DIR / "node_modules"
    return NodeTools(
        node=modules / ".bin" / "node",
        conformance=modules / "@modelcontextprotocol" / "conformance" / "dist" / "index.js",
        conformance_01=modules / "conformance-0.1" / "dist" / "index.js",
        mcp_remote=modules / "mcp-remote" / "dist" / "proxy.js",
        inspector=modules / "@modelcontextprotocol" / "inspector" / "clients/launcher/build/index.js",
        versions=pinned,
    )
