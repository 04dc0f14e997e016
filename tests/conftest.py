"""Shared test infrastructure: a real, throwaway Redis server on a free loopback port.

`redis_url` (session) starts `redis-server` without persistence, waits until it answers PING and
kills it at the end of the session. `clean_redis_url` (function) hands out the same URL after a
FLUSHALL so each test starts from an empty keyspace. Tests are skipped with a clear message only
when no redis-server binary exists (run scripts/ensure-redis to install it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parent.parent
_START_TIMEOUT_S = 10.0


def find_redis_server() -> str | None:
    """Locate redis-server: $REDIS_SERVER, PATH, the Debian location, then repo-local caches."""
    explicit = os.environ.get("REDIS_SERVER")
    if explicit and os.access(explicit, os.X_OK):
        return explicit
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    candidates = [Path("/usr/bin/redis-server"), Path("/usr/local/bin/redis-server")]
    for cache in (_REPO / ".cache", Path.home() / ".cache"):
        if cache.is_dir():
            candidates.extend(cache.glob("**/redis-server"))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    """Send an inline PING; True once the server answers +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(binary: str, workdir: str, port: int | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """Start redis-server (on `port`, or a free one with retries in case another process grabs it).

    Tests that need to kill and restart their own Redis use this directly; stop it with `stop_redis()`.
    """
    last_error = ""
    fixed = port
    for _attempt in range(1 if fixed is not None else 5):
        port = fixed if fixed is not None else _free_port()
        log_path = Path(workdir) / f"redis-{port}.log"
        # A file, not a pipe: a long session's warnings must never fill a pipe nobody reads.
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    workdir,
                    "--protected-mode",
                    "yes",
                    "--loglevel",
                    "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _ping(port):
                return proc, port
            time.sleep(0.02)
        stop_redis(proc)
        last_error = log_path.read_text(errors="replace").strip()
    raise RuntimeError(f"redis-server did not start: {last_error or 'no answer to PING'}")


def stop_redis(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a redis-server started by `start_redis` and wait for it (kill if it lingers)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real redis-server started for this test session (no persistence)."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server not found (run scripts/ensure-redis or set REDIS_SERVER)")
    with tempfile.TemporaryDirectory(prefix="gmcp-redis-") as workdir:
        proc, port = start_redis(binary, workdir)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            stop_redis(proc)


@pytest.fixture
def clean_redis_url(redis_url: str) -> str:
    """`redis_url` after FLUSHALL, so the test starts from an empty keyspace."""
    port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        reply = sock.recv(64)
    if not reply.startswith(b"+OK"):
        raise RuntimeError(f"FLUSHALL failed: {reply!r}")
    return redis_url
