"""Process supervision for `gumloop-mcp up`: stable secrets, child services, readiness, shutdown.

Each service runs as its own child process (`python -m services.tokens`, ...) configured by
environment variables. A child announces readiness with one JSON line on stdout
(`{"event": "serving", ...}`); everything else it writes goes to our stderr, prefixed with its
name, so our stdout stays reserved for our own events. A child that exits unexpectedly is
restarted on the same ports after a capped exponential back-off while the others keep serving;
one that crash-loops (see CRASH_LOOP_LIMIT) stops them all.
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.fernet import Fernet

__all__ = [
    "CRASH_LOOP_LIMIT",
    "CRASH_LOOP_WINDOW_S",
    "PORT_ENV",
    "Child",
    "ChildExited",
    "Supervisor",
    "Secrets",
    "caller_token_path",
    "describe_exit",
    "load_secrets",
    "read_secret_file",
    "restart_delay",
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


def facade_env(
    secrets: Secrets,
    *,
    tokens_target: str,
    proxy_target: str,
    data_dir: Path,
    redis_url: str | None = None,
    port: int = 0,
    admin_port: int = 0,
) -> dict[str, str]:
    """The environment of a façade in the system whose secrets are `secrets`: the one `up` starts, or
    another replica of it (same token service, proxy, session secret and caller tokens; with
    `redis_url`, the same shared state, so it serves the same URLs and sessions with no affinity).

    The façade keeps its audit trail under `data_dir` (facade-audit.sqlite3); with `redis_url` its
    whole shared state (budget, sessions, tasks, relays, OAuth, audit) is in Redis.
    """
    env = {
        "GMCP_FACADE_PORT": str(port),
        "GMCP_FACADE_ADMIN_PORT": str(admin_port),
        "GMCP_FACADE_TOKENS_TARGET": tokens_target,
        "GMCP_FACADE_PROXY_TARGET": proxy_target,
        "GMCP_FACADE_SESSION_SECRET": secrets.session_secret,
        "GMCP_FACADE_TOKENS_CALLER_TOKEN": secrets.caller_tokens[("facade", "tokens")],
        "GMCP_FACADE_PROXY_CALLER_TOKEN": secrets.caller_tokens[("facade", "proxy")],
        "GMCP_FACADE_DATA_DIR": str(data_dir),
    }
    if redis_url is not None:
        env.update({"GMCP_FACADE_STORE": "redis", "GMCP_FACADE_REDIS_URL": redis_url})
    return env


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
    """A supervised child process exited for good (it never served, or it crashes in a loop)."""


# `up` restarts a crashed service the way Kubernetes restarts a container: after an exponential
# back-off (RESTART_BACKOFF_INITIAL_S doubled per recent crash, capped at RESTART_BACKOFF_MAX_S),
# while the others keep serving. A service that crashes CRASH_LOOP_LIMIT times within
# CRASH_LOOP_WINDOW_S is crash-looping: the stack stops with a message naming it.
RESTART_BACKOFF_INITIAL_S: Final = 0.5
RESTART_BACKOFF_MAX_S: Final = 15.0
CRASH_LOOP_LIMIT: Final = 5
CRASH_LOOP_WINDOW_S: Final = 120.0

# The env variable that sets each announced port, by service module: a restarted service is
# given the ports it announced first (port 0 resolved), since the others were configured with them.
PORT_ENV: Final[dict[str, dict[str, str]]] = {
    "services.tokens": {"grpc": "GMCP_TOKENS_GRPC_PORT", "metrics": "GMCP_TOKENS_METRICS_PORT"},
    "services.gumloop_proxy": {"grpc": "GMCP_PROXY_GRPC_PORT", "metrics": "GMCP_PROXY_METRICS_PORT"},
    "services.mcp_facade": {
        "http": "GMCP_FACADE_PORT",
        "admin": "GMCP_FACADE_ADMIN_PORT",
        "metrics": "GMCP_FACADE_METRICS_PORT",
    },
    "gumloop_mcp.emulator": {"http": "GMCP_EMULATOR_PORT"},
}


def describe_exit(returncode: int | None) -> str:
    """ "exit code 3" or "killed by SIGKILL" (asyncio reports a signal as a negative code)."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def restart_delay(recent_crashes: int) -> float:
    """The back-off before a restart, given how many crashes fall in the window (this one included)."""
    exponent = max(recent_crashes - 1, 0)
    return min(RESTART_BACKOFF_INITIAL_S * 2.0**exponent, RESTART_BACKOFF_MAX_S)


@dataclass(slots=True)
class Child:
    """One supervised service: its current process, what it announced, how to start it again."""

    name: str
    module: str
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    ports: dict[str, int] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    crashes: list[float] = field(default_factory=list)  # monotonic times of recent crashes
    restarts: int = 0


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
            raise ChildExited(
                f"{name} exited ({describe_exit(code)}) before it was serving (see its log above)"
            )
        event: Any = None
        with contextlib.suppress(ValueError):
            event = json.loads(line)
        if isinstance(event, dict) and event.get("event") == "serving":
            ports = event.get("ports") or {}
            return {str(k): int(v) for k, v in ports.items()}
        sys.stderr.buffer.write(f"[{name}] ".encode() + line)
        sys.stderr.buffer.flush()


class Supervisor:
    """Starts children, waits until they serve, restarts crashed ones, stops them all in reverse order.

    `on_event` receives the JSON events `up --json` prints (a restart, a crash loop).
    """

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.children: list[Child] = []
        self._on_event = on_event or (lambda _event: None)

    async def start(self, name: str, module: str, env: Mapping[str, str]) -> Child:
        """Start `python -m module` with `env` added and wait for its `serving` event."""
        child = Child(name, module, dict(env))
        self.children.append(child)
        await self._spawn(child)
        self._pin_ports(child)
        return child

    async def _spawn(self, child: Child) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            child.module,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **child.env},
            start_new_session=True,  # our Ctrl-C reaches them only through us, in order
        )
        child.process = process
        child.tasks.append(asyncio.create_task(_forward(child.name, process.stderr)))
        try:
            ports = await asyncio.wait_for(_await_serving(child.name, process), SERVING_TIMEOUT_S)
        except TimeoutError:
            raise ChildExited(
                f"{child.name} did not report serving within {SERVING_TIMEOUT_S:.0f}s"
            ) from None
        child.tasks.append(asyncio.create_task(_forward(child.name, process.stdout)))
        if child.ports and ports != child.ports:  # pinned: only a service that ignores its env gets here
            raise ChildExited(f"{child.name} came back on {ports}, not on its ports {child.ports}")
        child.ports = ports
        logger.info("%s serving on %s", child.name, ports)

    def _pin_ports(self, child: Child) -> None:
        """Put the announced ports into the child's env, so that a restart binds the same ones."""
        names = PORT_ENV.get(child.module, {})
        for port_name, port in child.ports.items():
            if port_name not in names:
                logger.warning("%s announced port %r, which a restart cannot pin", child.name, port_name)
                continue
            child.env[names[port_name]] = str(port)

    async def supervise(self, stop: asyncio.Event) -> None:
        """Keep every child serving until `stop` is set.

        Raises ChildExited when a child crash-loops (the caller then stops everything).
        """
        keepers = [
            asyncio.create_task(self._keep(child, stop), name=f"keep-{child.name}") for child in self.children
        ]
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({stopper, *keepers}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper:
                    task.result()  # a keeper ends only by raising ChildExited
        finally:
            for task in (stopper, *keepers):
                task.cancel()
            await asyncio.gather(stopper, *keepers, return_exceptions=True)

    async def _keep(self, child: Child, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while True:
            assert child.process is not None
            code = await child.process.wait()
            await self._drain(child)
            now = loop.time()
            child.crashes = [t for t in child.crashes if now - t < CRASH_LOOP_WINDOW_S] + [now]
            how = describe_exit(code)
            if len(child.crashes) >= CRASH_LOOP_LIMIT:
                message = (
                    f"{child.name} crashed {len(child.crashes)} times within {CRASH_LOOP_WINDOW_S:.0f}s "
                    f"(last: {how}); it is crash-looping, stopping everything"
                )
                self._on_event({"event": "crash_loop", "service": child.name, "exit": how})
                raise ChildExited(message)
            delay = restart_delay(len(child.crashes))
            child.restarts += 1
            logger.warning(
                "%s exited unexpectedly (%s); restart %d in %.1fs (%d crash(es) in the last %.0fs, "
                "the stack stops at %d); the other services keep serving",
                child.name,
                how,
                child.restarts,
                delay,
                len(child.crashes),
                CRASH_LOOP_WINDOW_S,
                CRASH_LOOP_LIMIT,
            )
            self._on_event(
                {
                    "event": "restarting",
                    "service": child.name,
                    "exit": how,
                    "restart": child.restarts,
                    "delay_s": delay,
                }
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            try:
                await self._spawn(child)
            except ChildExited as exc:  # it died (or hung) again before serving: one more crash
                logger.warning("%s", exc)
                if child.process is not None and child.process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        child.process.kill()
                continue
            logger.info(
                "%s restarted (restart %d), serving again on %s", child.name, child.restarts, child.ports
            )
            self._on_event(
                {"event": "serving", "service": child.name, "ports": child.ports, "restart": child.restarts}
            )

    async def _drain(self, child: Child) -> None:
        """Let the output forwarders of an exited process finish (its last lines say why it died)."""
        tasks, child.tasks = child.tasks, []
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 2)

    async def stop_all(self) -> None:
        """SIGTERM every running child (last started first), then SIGKILL stragglers."""
        for child in reversed(self.children):
            process = child.process
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), STOP_GRACE_S)
                except TimeoutError:
                    logger.warning("%s did not stop within %.0fs; killing it", child.name, STOP_GRACE_S)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
            await self._drain(child)
