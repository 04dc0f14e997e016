"""What each service leaves unimported until it needs it, so an idle process stays small.

redis-py (~20 MiB resident with what it pulls in) is imported only with a Redis store; jsonschema only
by a process that validates (the token service never does); the artifact decoders only when a file
is decoded. Each service's composition module is imported in a fresh interpreter and its modules read;
then each service is started as `gumloop-mcp up` configures it (memory/SQLite stores, no tracing) and
its modules are read once it serves, idle: what start-up imports counts too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
DECODERS = ("pypdf", "docx", "openpyxl", "markdownify", "bs4")
# Never at idle in any service: the Redis client (only with a Redis store), the artifact decoders
# (a file is decoded), the OpenTelemetry SDK and its exporters (only with OTEL_EXPORTER_OTLP_ENDPOINT),
# gRPC reflection and protobuf's descriptor_pb2 it needs (on the first reflection call).
NEVER_IDLE = (
    "redis",
    "hiredis",
    *DECODERS,
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "grpc_reflection.v1alpha",  # (grpc itself imports the empty grpc_reflection package)
    "google.protobuf.descriptor_pb2",
)


def _modules_of(code: str, env: dict[str, str] | None = None) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def _imported_after(module: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "print(json.dumps(list(sys.modules)))"
    )
    return {name.split(".")[0] for name in _modules_of(code)}


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of `names` (a package, or a dotted subpackage) `modules` holds."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


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


def _idle_modules(package: str, settings_class: str, env: dict[str, str]) -> set[str]:
    """The modules of `package`'s service, started as its __main__ does and read just after it serves."""
    code = f"""
import asyncio, json, os, sys
from gumloop_mcp.runtime import configure, configure_tracing, run_service
from {package}.server import serve
from {package}.settings import {settings_class}

async def main():
    stop = asyncio.Event()
    def ready(ports):
        def read():
            print(json.dumps(sorted(sys.modules)), flush=True)
            stop.set()
        asyncio.get_running_loop().call_later(0.2, read)
    await serve({settings_class}(), stop=stop, on_ready=ready)

configure("WARNING")
configure_tracing("lazy-imports-test")
run_service(main())
"""
    clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("GMCP_", "OTEL_"))}
    return _modules_of(code, {**clean, **env})


def test_the_token_service_idles_without_what_it_does_not_use(tmp_path: Path) -> None:
    modules = _idle_modules(
        "services.tokens",
        "TokenSettings",
        {
            "GMCP_TOKENS_GRPC_PORT": "0",
            "GMCP_TOKENS_METRICS_PORT": "0",
            "GMCP_TOKENS_DATA_DIR": str(tmp_path),
            "GMCP_TOKENS_PEPPER": "a-pepper-for-the-lazy-imports-test",
            "GMCP_TOKENS_PROXY_TARGET": "127.0.0.1:1",
        },
    )
    assert "services.tokens.servicer" in modules  # it served
    # it serves no HTTP but /metrics, which needs no aiohttp (runtime/_metrics.py: h11)
    absent = (*NEVER_IDLE, "jsonschema", "authlib", "httpx", "jinja2", "aiohttp")
    assert _loaded(modules, absent) == []


def test_the_proxy_idles_without_what_it_does_not_use(tmp_path: Path) -> None:
    modules = _idle_modules(
        "services.gumloop_proxy",
        "ProxySettings",
        {
            "GMCP_PROXY_GRPC_PORT": "0",
            "GMCP_PROXY_METRICS_PORT": "0",
            "GMCP_PROXY_DATA_DIR": str(tmp_path),
            "GMCP_PROXY_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        },
    )
    assert "services.gumloop_proxy.servicer" in modules
    assert _loaded(modules, (*NEVER_IDLE, "jinja2", "joserfc")) == []


def test_the_facade_idles_without_what_it_does_not_use(tmp_path: Path) -> None:
    modules = _idle_modules(
        "services.mcp_facade",
        "FacadeSettings",
        {
            "GMCP_FACADE_PORT": "0",
            "GMCP_FACADE_ADMIN_PORT": "0",
            "GMCP_FACADE_METRICS_PORT": "0",
            "GMCP_FACADE_TOKENS_TARGET": "127.0.0.1:1",
            "GMCP_FACADE_PROXY_TARGET": "127.0.0.1:1",
            "GMCP_FACADE_SESSION_SECRET": "a-session-secret-for-the-lazy-imports-test",
            "GMCP_FACADE_DATA_DIR": str(tmp_path),
        },
    )
    assert "services.mcp_facade.protocol" in modules  # it served MCP
    assert "services.mcp_facade.console.mount" in modules  # and the console
    # the console's templates until a page is rendered; the OpenID Connect client and JOSE (with
    # cryptography) until someone signs in at an identity provider
    lazy = ("jinja2", "joserfc", "authlib.integrations", "cryptography")
    assert _loaded(modules, (*NEVER_IDLE, *lazy)) == []
