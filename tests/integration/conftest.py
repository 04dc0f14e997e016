"""The containerised stack for integration tests (testcontainers, per shared/containers.md).

Session fixtures build the image once (scripts/build-image: cached layers, seconds when nothing
changed), create a docker network of the test's own, and start Redis (AOF on), the Gumloop
emulator, tokens, proxy and façade as containers configured with the same GMCP_* variables as
the Kubernetes manifests (store=redis, Redis AOF with appendfsync everysec). Containers run as they
do in the cluster: uid 10001, a read-only root filesystem, /tmp as tmpfs. Their ports are published
on 127.0.0.1 only, and tests reach them there.

Without a Docker engine (scripts/ensure-docker starts one) or the Redis image, the suite is skipped
with the reason, or fails with it when GMCP_REQUIRE_INTEGRATION=1 (what CI sets in .ci/run, so CI
cannot go green with the integration suite skipped).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("GMCP_TEST_IMAGE", "gumloop-mcp:dev")
REDIS_IMAGE = os.environ.get("GMCP_REDIS_IMAGE", "gumloop-mcp-redis:bookworm")
EMULATOR_KEY = "it-emulator-key"
EMULATOR_USER = "it-user"
START_TIMEOUT_S = 60.0
# Host address published ports bind to (testcontainers' with_exposed_ports/with_bind_ports bind 0.0.0.0).
LOOPBACK = "127.0.0.1"
REQUIRE_INTEGRATION = os.environ.get("GMCP_REQUIRE_INTEGRATION", "0") == "1"
_SERVING = re.compile(r'^\{.*"event": "serving".*\}$', re.M)

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is an integration test, with a budget for container start-up; they run last.

    Last, because the session fixtures' teardown (removing containers and the network, slow on the vfs
    storage driver of a loaded machine) is charged to the session's final test: it must be one of these,
    with their 600 s budget, not a unit test's 120 s.
    """
    mine = [item for item in items if "tests/integration" in str(item.path)]
    for item in mine:
        item.add_marker(pytest.mark.integration)
        item.add_marker(pytest.mark.timeout(600))
    others = [item for item in items if "tests/integration" not in str(item.path)]
    items[:] = others + mine


def unavailable(reason: str) -> NoReturn:
    """Skip the suite for `reason`, or fail it when GMCP_REQUIRE_INTEGRATION=1 (CI)."""
    if REQUIRE_INTEGRATION:
        pytest.fail(f"{reason} (GMCP_REQUIRE_INTEGRATION=1: the integration suite must run)", pytrace=False)
    pytest.skip(reason)


def _probe_engine() -> str | None:
    """Why the engine's socket cannot be reached, or None (docker-py leaks the socket when it cannot)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(host.removeprefix("unix://"))
        elif host.startswith("tcp://"):
            name, _, port = host.removeprefix("tcp://").rstrip("/").rpartition(":")
            socket.create_connection((name, int(port)), timeout=5).close()
    except OSError as err:
        return type(err).__name__
    return None


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A Docker client whose engine answers, else skip (or, when required, fail) the suite."""
    try:
        import docker
    except ImportError:  # pragma: no cover - dev extra
        unavailable("the docker SDK is not installed (pip install -e '.[dev]')")
    probe_error = _probe_engine()
    if probe_error:
        unavailable(f"Docker engine unavailable ({probe_error}); run scripts/ensure-docker")
    client = None
    try:
        # a pinned API version: no auto-detection call (and leaked socket) inside the constructor
        client = docker.from_env(timeout=30, version="1.41")
        client.ping()
    except Exception as err:
        if client is not None:
            client.close()  # no leaked socket when the engine is down
        unavailable(f"Docker engine unavailable ({type(err).__name__}); run scripts/ensure-docker")
    yield client
    client.close()


@pytest.fixture(scope="session")
def image(docker_client: Any) -> str:
    """The project image, built (or found up to date in the layer cache) once per session."""
    if os.environ.get("GMCP_TEST_IMAGE"):
        return IMAGE
    started = time.monotonic()
    proc = subprocess.run(
        [str(REPO / "scripts" / "build-image")],
        env={**os.environ, "IMAGE": IMAGE},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/build-image failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    print(f"image {IMAGE} ready in {time.monotonic() - started:.1f}s")
    return IMAGE


@dataclass
class Stack:
    """The running containers and how to reach them from the host."""

    network: Any
    containers: dict[str, Any] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        """http://127.0.0.1:<published port> for "facade", "facade2", "admin" or "emulator"."""
        return f"http://{LOOPBACK}:{self.ports[name]}"


def _wait_serving(container: Any, name: str, since_line: int = 0, timeout: float = START_TIMEOUT_S) -> None:
    """Wait until the process printed its one `{"event": "serving"}` line (after `since_line` lines)."""
    deadline = time.monotonic() + timeout
    wrapped = container.get_wrapped_container()
    while time.monotonic() < deadline:
        wrapped.reload()
        stdout = wrapped.logs(stdout=True, stderr=False).decode(errors="replace")
        if len(_SERVING.findall(stdout)) > since_line:
            return
        if wrapped.status in {"exited", "dead"}:
            break
        time.sleep(0.2)
    logs = wrapped.logs(stdout=True, stderr=True).decode(errors="replace")[-4000:]
    raise RuntimeError(f"{name} did not report serving within {timeout:.0f}s ({wrapped.status}):\n{logs}")


def serving_count(container: Any) -> int:
    """How many `serving` lines the container printed so far (restarts append)."""
    stdout = container.get_wrapped_container().logs(stdout=True, stderr=False).decode(errors="replace")
    return len(_SERVING.findall(stdout))


def wait_serving_again(container: Any, name: str, before: int) -> None:
    """After a restart: wait for a new `serving` line."""
    _wait_serving(container, name, since_line=before)


def _hardened(container: Any, entrypoint: str) -> Any:
    """Run like the Kubernetes pod: uid 10001, read-only root, tmpfs /tmp and data dir."""
    container.tmpfs["/tmp"] = "rw,size=64m,mode=1777"
    container.tmpfs["/var/lib/gumloop-mcp"] = "rw,size=16m,uid=10001,gid=10001,mode=0700"
    # with_kwargs replaces (not merges) earlier kwargs: everything in one call
    return container.with_kwargs(
        entrypoint=entrypoint,
        user="10001:10001",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
    )


def _start(stack: Stack, name: str, container: Any, *ports: int) -> Any:
    container = container.with_network(stack.network).with_network_aliases(name)
    for port in ports:
        # The docker SDK's (host_ip, None) form: a random host port on loopback only. (with_exposed_ports
        # and with_bind_ports(port, None) publish on 0.0.0.0.) get_exposed_port still finds the port.
        container.ports[f"{port}/tcp"] = (LOOPBACK, None)
    container.with_name(f"gmcp-it-{name}-{uuid.uuid4().hex[:6]}")
    container.start()
    stack.containers[name] = container
    return container


# Same variable names and values as deploy/base/config.env, with the test network's names.
# gRPC caller tokens (GMCP_*_CALLER_TOKEN(S)): one per hop, plus `it` for the tests' own direct calls.
FACADE_TO_TOKENS = "it-facade-to-tokens-3b8e1f6a9c2d5047"
FACADE_TO_PROXY = "it-facade-to-proxy-8d2a7c4e1b9f6053"
TOKENS_TO_PROXY = "it-tokens-to-proxy-5f9c3e7a2d1b8064"
IT_CALLER_TOKEN = "it-tests-caller-token-1c7e9a3f5b2d8046"
# What `gumloop-mcp admin` sends when run inside the token service container (as with kubectl exec).
CLI_TO_TOKENS = "it-cli-to-tokens-6a2f8c1e4b7d9035"
CALLER_METADATA = (("authorization", f"Bearer {IT_CALLER_TOKEN}"),)


def stack_env(service: str) -> dict[str, str]:
    """The GMCP_* environment of one service container."""
    common = {
        "tokens": {
            "GMCP_TOKENS_HOST": "0.0.0.0",
            "GMCP_TOKENS_GRPC_PORT": "50051",
            "GMCP_TOKENS_STORE": "redis",
            "GMCP_TOKENS_REDIS_URL": "redis://redis:6379/0",
            "GMCP_TOKENS_PEPPER": "it-pepper-0f3c9a1e5b7d2468ace013579bdf2468",
            "GMCP_TOKENS_PROXY_TARGET": "dns:///proxy:50052",
            "GMCP_TOKENS_CALLER_TOKENS": (
                f"facade={FACADE_TO_TOKENS},it={IT_CALLER_TOKEN},cli={CLI_TO_TOKENS}"
            ),
            "GMCP_CLI_TOKENS_CALLER_TOKEN": CLI_TO_TOKENS,
            "GMCP_TOKENS_PROXY_CALLER_TOKEN": TOKENS_TO_PROXY,
            "GMCP_TOKENS_SHUTDOWN_GRACE_S": "2",
        },
        "proxy": {
            "GMCP_PROXY_HOST": "0.0.0.0",
            "GMCP_PROXY_GRPC_PORT": "50052",
            "GMCP_PROXY_STORE": "redis",
            "GMCP_PROXY_REDIS_URL": "redis://redis:6379/0",
            "GMCP_PROXY_ENCRYPTION_KEY": "aXQtb25seS1mZXJuZXQta2V5LTMyLWJ5dGVzLWxvbmc=",
            "GMCP_PROXY_CALLER_TOKENS": (
                f"facade={FACADE_TO_PROXY},tokens={TOKENS_TO_PROXY},it={IT_CALLER_TOKEN}"
            ),
            "GMCP_PROXY_DEFAULT_API_BASE_URL": "http://emulator:8090/api/v1",
            "GMCP_PROXY_DEFAULT_STREAM_BASE_URL": "http://emulator:8090/ws/api/v1",
            "GMCP_PROXY_SHUTDOWN_GRACE_S": "2",
        },
        "facade": {
            "GMCP_FACADE_HOST": "0.0.0.0",
            "GMCP_FACADE_PORT": "8080",
            "GMCP_FACADE_ADMIN_HOST": "0.0.0.0",
            "GMCP_FACADE_ADMIN_PORT": "8081",
            "GMCP_FACADE_TOKENS_TARGET": "dns:///tokens:50051",
            "GMCP_FACADE_PROXY_TARGET": "dns:///proxy:50052",
            "GMCP_FACADE_SESSION_SECRET": "it-session-secret-7e1d4c2b9a8f6e5d",
            "GMCP_FACADE_TOKENS_CALLER_TOKEN": FACADE_TO_TOKENS,
            "GMCP_FACADE_PROXY_CALLER_TOKEN": FACADE_TO_PROXY,
            "GMCP_FACADE_STORE": "redis",
            "GMCP_FACADE_REDIS_URL": "redis://redis:6379/0",
            "GMCP_FACADE_REQUEST_DEADLINE_S": "15",
            "GMCP_FACADE_SHUTDOWN_GRACE_S": "2",
        },
        "emulator": {
            "GMCP_EMULATOR_HOST": "0.0.0.0",
            "GMCP_EMULATOR_PORT": "8090",
            "GMCP_EMULATOR_API_KEY": EMULATOR_KEY,
            "GMCP_EMULATOR_USER_ID": EMULATOR_USER,
            "GMCP_EMULATOR_TIME_SCALE": "0.1",
            "GMCP_EMULATOR_PUBLIC_BASE_URL": "http://emulator:8090",
        },
    }
    return common[service]


def _container(image: str, service: str) -> Any:
    """A service's container: the `gumloop-mcp <service>` subcommand the manifests run."""
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(image).with_command([service])
    for key, value in stack_env(service).items():
        container = container.with_env(key, value)
    return _hardened(container, "gumloop-mcp")


@pytest.fixture(scope="session")
def network(docker_client: Any) -> Iterator[Any]:
    """A docker network made by the test (containers talk only there)."""
    from testcontainers.core.network import Network

    net = Network()
    net.create()
    try:
        yield net
    finally:
        # The containers on it are removed first (base_stack); one that is still going away keeps an
        # endpoint for a moment, so try a few times before leaving it to `docker network prune`.
        for attempt in range(5):
            try:
                net.remove()
                break
            except Exception:
                if attempt == 4:
                    raise
                time.sleep(2)


@pytest.fixture(scope="session")
def base_stack(docker_client: Any, image: str, network: Any) -> Iterator[Stack]:
    """Redis (AOF) and the token service: what every integration test needs."""
    from testcontainers.core.container import DockerContainer

    if not docker_client.images.list(name=REDIS_IMAGE):
        unavailable(f"{REDIS_IMAGE} missing: run scripts/ensure-docker")
    stack = Stack(network)
    try:
        # AOF in the container's own layer: it outlives a restart of the container, as a PVC does.
        # appendfsync everysec, as deploy/overlays/dev/redis.yaml runs it.
        redis = DockerContainer(REDIS_IMAGE).with_command(
            "redis-server --bind 0.0.0.0 --protected-mode no --appendonly yes --appendfsync everysec "
            "--dir /var/lib/redis"
        )
        redis = redis.with_kwargs(user="redis")
        _start(stack, "redis", redis)
        _wait_redis(redis)
        _start(stack, "tokens", _container(image, "tokens"), 50051)
        _wait_serving(stack.containers["tokens"], "tokens")
        stack.ports["tokens"] = int(stack.containers["tokens"].get_exposed_port(50051))
        yield stack
    finally:
        for container in reversed(list(stack.containers.values())):
            with contextlib.suppress(Exception):  # already gone
                container.get_wrapped_container().remove(force=True, v=True)


def _wait_redis(container: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, out = container.exec(["redis-cli", "ping"])
        if code == 0 and b"PONG" in out:
            return
        time.sleep(0.2)
    raise RuntimeError("redis did not answer PING")


def wait_redis(container: Any) -> None:
    """Wait until Redis answers PING again (after a restart)."""
    _wait_redis(container)


@pytest.fixture(scope="session")
def full_stack(base_stack: Stack, image: str) -> Stack:
    """The whole system: base_stack plus the emulator, the proxy and two façade replicas."""
    stack = base_stack
    _start(stack, "emulator", _container(image, "emulator"), 8090)
    _wait_serving(stack.containers["emulator"], "emulator")
    _start(stack, "proxy", _container(image, "proxy"), 50052)
    _wait_serving(stack.containers["proxy"], "proxy")
    _start(stack, "facade", _container(image, "facade"), 8080, 8081)
    # a second façade replica on the same Redis: any replica must serve any request
    _start(stack, "facade2", _container(image, "facade"), 8080)
    _wait_serving(stack.containers["facade"], "facade")
    _wait_serving(stack.containers["facade2"], "facade2")
    stack.ports["facade"] = int(stack.containers["facade"].get_exposed_port(8080))
    stack.ports["facade2"] = int(stack.containers["facade2"].get_exposed_port(8080))
    stack.ports["admin"] = int(stack.containers["facade"].get_exposed_port(8081))
    stack.ports["emulator"] = int(stack.containers["emulator"].get_exposed_port(8090))
    return stack
