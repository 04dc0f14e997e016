"""Process supervision for `gumloop-mcp up`: stable secrets, child services, readiness, shutdown.

Each service runs as its own child process (`python -m services.tokens`, ...) configured by
environment variables. A child announces readiness with one JSON line on stdout
(`{"event": "serving", ...}`); everything else it writes goes to our stderr, prefixed with its
name, so our stdout stays reserved for our own events. If any child exits, all are stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.fernet import Fernet

__all__ = [
    "Child",
    "ChildExited",
    "Supervisor",
    "Secrets",
    "caller_token_path",
    "load_secrets",
    "read_secret_file",
    "session_secret_path",
    "write_secret_file",
]

logger = logging.getLogger(__name__)

SERVING_TIMEOUT_S: Final = 60.0
STOP_GRACE_S: Final = 15.0


def write_secret_file(path: Path, value: str) -> None:
    """Write `value` to `path` with mode 0600 (created exclusively, replaced atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    os.chmod(tmp, 0o600)  # umask cannot widen it, but an old tmp file might exist
    os.replace(tmp, path)


def read_secret_file(path: Path) -> str | None:
    """The stripped content of `path`, or None when it is missing or empty."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        return None
    return value or None


def _stable(path: Path, make: Any) -> str:
    value = read_secret_file(path)
    if value is None:
        value = str(make())
        write_secret_file(path, value)
    return value


# Caller tokens (see gumloop_mcp.runtime.CallerTokens): one per caller and server, so each hop
# can be rotated alone. The CLI's token lets `up`'s bootstrap and `admin` commands call both servers.
CALLER_TOKENS_DIR: Final = "caller-tokens"
CALLER_TOKEN_FILES: Final = {
    ("facade", "tokens"): "facade-to-tokens",
    ("facade", "proxy"): "facade-to-proxy",
    ("tokens", "proxy"): "tokens-to-proxy",
    ("cli", "tokens"): "cli-to-tokens",
    ("cli", "proxy"): "cli-to-proxy",
}


@dataclass(frozen=True, slots=True)
class Secrets:
    """The secrets generated once per data directory and handed to the services by env."""

    tokens_pepper: str
    proxy_encryption_key: str
    session_secret: str
    # (caller, server) -> the caller's token on that server.
    caller_tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def callers_of(self, server: str) -> str:
        """The server's caller list, as its GMCP_<SERVER>_CALLER_TOKENS value ("name=token,...")."""
        return ",".join(
            f"{caller}={token}" for (caller, to), token in self.caller_tokens.items() if to == server
        )


def caller_token_path(data_dir: Path, caller: str, server: str) -> Path:
    """Where `up` keeps `caller`'s token for `server` (file mode 0600, directory 0700)."""
    return data_dir / CALLER_TOKENS_DIR / CALLER_TOKEN_FILES[(caller, server)]


def session_secret_path(data_dir: Path) -> Path:
    """Where `up` keeps the façade's session secret (the HMAC key of session ids; mode 0600).

    Another replica of the same system reads it from here: it is never printed (logs keep it).
    """
    return data_dir / "secrets" / "facade-session-secret"


def load_secrets(data_dir: Path) -> Secrets:
    """Read the stable secrets from `data_dir`, generating missing ones (files mode 0600)."""
    secret_dir = data_dir / "secrets"
    secret_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(secret_dir, 0o700)
    callers_dir = data_dir / CALLER_TOKENS_DIR
    callers_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(callers_dir, 0o700)
    return Secrets(
        tokens_pepper=_stable(secret_dir / "tokens-pepper", lambda: secrets.token_urlsafe(32)),
        proxy_encryption_key=_stable(
            secret_dir / "proxy-encryption-key", lambda: Fernet.generate_key().decode()
        ),
        session_secret=_stable(session_secret_path(data_dir), lambda: secrets.token_urlsafe(32)),
        caller_tokens={
            pair: _stable(caller_token_path(data_dir, *pair), lambda: secrets.token_urlsafe(32))
            for pair in CALLER_TOKEN_FILES
        },
    )


class ChildExited(RuntimeError):
    """A supervised child process exited (or never announced that it serves)."""


@dataclass(slots=True)
class Child:
    """One running service process and what it announced."""

    name: str
    process: asyncio.subprocess.Process
    ports: dict[str, int] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def _forward(name: str, stream: asyncio.StreamReader | None) -> None:
    """Copy a child's output to our stderr, one prefixed line at a time."""
    if stream is None:
        return
    prefix = f"[{name}] ".encode()
    while line := await stream.readline():
        sys.stderr.buffer.write(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")
        sys.stderr.buffer.flush()


async def _await_serving(name: str, process: asyncio.subprocess.Process) -> dict[str, int]:
    assert process.stdout is not None
    while True:
        line = await process.stdout.readline()
        if not line:
            code = await process.wait()
            raise ChildExited(f"{name} exited with code {code} before it was serving (see its log above)")
        event: Any = None
        with contextlib.suppress(ValueError):
            event = json.loads(line)
        if isinstance(event, dict) and event.get("event") == "serving":
            ports = event.get("ports") or {}
            return {str(k): int(v) for k, v in ports.items()}
        sys.stderr.buffer.write(f"[{name}] ".encode() + line)
        sys.stderr.buffer.flush()


class Supervisor:
    """Starts children, waits until they serve, and stops them all (in reverse order)."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    async def start(self, name: str, module: str, env: Mapping[str, str]) -> Child:
        """Start `python -m module` with `env` added and wait for its `serving` event."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env},
            start_new_session=True,  # our Ctrl-C reaches them only through us, in order
        )
        child = Child(name, process)
        self.children.append(child)
        child.tasks.append(asyncio.create_task(_forward(name, process.stderr)))
        try:
            child.ports = await asyncio.wait_for(_await_serving(name, process), SERVING_TIMEOUT_S)
        except TimeoutError:
            raise ChildExited(f"{name} did not report serving within {SERVING_TIMEOUT_S:.0f}s") from None
        child.tasks.append(asyncio.create_task(_forward(name, process.stdout)))
        logger.info("%s serving on %s", name, child.ports)
        return child

    async def wait_any_exit(self) -> Child:
        """Return the first child that exits."""
        waits = {asyncio.create_task(c.process.wait()): c for c in self.children}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        return waits[next(iter(done))]

    async def stop_all(self) -> None:
        """SIGTERM every running child (last started first), then SIGKILL stragglers."""
        for child in reversed(self.children):
            if child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(child.process.wait(), STOP_GRACE_S)
                except TimeoutError:
                    logger.warning("%s did not stop within %.0fs; killing it", child.name, STOP_GRACE_S)
                    with contextlib.suppress(ProcessLookupError):
                        child.process.kill()
                    await child.process.wait()
            for task in child.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 2)
