"""`gumloop-mcp`: start the whole system with one command, run single services, print config.

gumloop-mcp up [--json] [--mcp-port 8080] [--admin-port 8081] ...   everything, supervised
gumloop-mcp tokens | proxy | facade | emulator                      one service in the foreground
gumloop-mcp claude-config [--url URL] [--token-in-url]              Claude Desktop snippet
gumloop-mcp servers list|create|get|update|rotate|revoke             MCP servers (management API)
gumloop-mcp accounts list|connect|delete                            Gumloop accounts
gumloop-mcp api-tokens create|list|revoke                           API tokens
gumloop-mcp catalog                                                  operations, tags, method groups
gumloop-mcp catalog diff --openapi DIR [--sdk]                       drift from Gumloop (exit 1)
gumloop-mcp admin create-api-token --name N [--data-dir D]          mint an API token over gRPC
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import cli_admin
from .bootstrap import AccountSpec, bootstrap
from .claude_config import render_claude_desktop_config
from .cli_admin import connection
from .launcher import ChildExited, Supervisor, facade_env, load_secrets
from .runtime import private_directory, redact

__all__ = ["build_parser", "main"]

logger = logging.getLogger("gumloop_mcp.cli")

SERVICE_MODULES = {
    "tokens": "services.tokens",
    "proxy": "services.gumloop_proxy",
    "facade": "services.mcp_facade",
    "emulator": "gumloop_mcp.emulator",
}
EMULATOR_API_KEY = "gl-emulator-key"
EMULATOR_USER_ID = "emu_user_1"
HOST = "127.0.0.1"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="gumloop-mcp", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start tokens, proxy, façade (and the emulator without a Gumloop key)")
    up.add_argument("--json", action="store_true", help="print JSON events on stdout (one per line)")
    up.add_argument("--mcp-port", type=int, default=8080, help="public MCP port (0 = free port)")
    up.add_argument("--admin-port", type=int, default=8081, help="management API port (0 = free port)")
    up.add_argument("--tokens-port", type=int, default=50051, help="token service gRPC port")
    up.add_argument("--proxy-port", type=int, default=50052, help="proxy gRPC port")
    up.add_argument("--emulator-port", type=int, default=8090, help="Gumloop emulator HTTP port")
    up.add_argument("--data-dir", type=Path, default=Path(".gumloop-mcp"), help="state and secrets")
    up.add_argument("--store", choices=("sqlite", "redis"), default="sqlite")
    up.add_argument(
        "--redis-url",
        default=os.environ.get("GMCP_REDIS_URL"),
        help="Redis URL when --store redis (default: env GMCP_REDIS_URL, which keeps a password out of ps)",
    )

    for name in ("tokens", "proxy", "facade", "emulator"):
        sub.add_parser(name, help=f"run the {name} service in the foreground (configured by env)")

    claude = sub.add_parser("claude-config", help="print a claude_desktop_config.json snippet")
    claude.add_argument(
        "--url", default=None, help="the MCP URL (…/mcp/<token>; default: the demo server `up` stored)"
    )
    claude.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the `up` data directory (default: env GMCP_DATA_DIR, else .gumloop-mcp)",
    )
    claude.add_argument(
        "--token-in-url",
        action="store_true",
        help="put the token in the URL (for clients that take only a URL); default: an Authorization header",
    )
    claude.add_argument(
        "--api-token",
        default=os.environ.get("GMCP_CLIENT_API_TOKEN"),
        help="API token for require_api_token_auth servers (default: env GMCP_CLIENT_API_TOKEN)",
    )
    claude.add_argument("--name", default="gumloop", help="the server's name in Claude Desktop")

    cli_admin.add_commands(sub)

    admin = sub.add_parser("admin", help="administrative commands over gRPC")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create-api-token", help="mint an API token (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--purpose", choices=("management", "mcp_client"), action="append")
    create.add_argument("--tokens-target", default=os.environ.get("GMCP_TOKENS_TARGET", f"{HOST}:50051"))
    create.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".gumloop-mcp"),
        help="the `up` data directory whose caller token is sent (unless env GMCP_CLI_TOKENS_CALLER_TOKEN)",
    )
    return parser


def _account_spec(emulator_port: int | None) -> AccountSpec:
    from gumloop_mcp.proxy.v1 import proxy_service_pb2 as ppb

    if emulator_port is not None:
        return AccountSpec(
            display_name="Gumloop emulator",
            kind=ppb.CREDENTIAL_KIND_API_KEY,
            secret=EMULATOR_API_KEY,
            user_id=EMULATOR_USER_ID,
            api_base_url=f"http://{HOST}:{emulator_port}/api/v1",
            stream_base_url=f"http://{HOST}:{emulator_port}/ws/api/v1",
        )
    api_base = os.environ.get("GUMLOOP_API_BASE_URL", "https://api.gumloop.com/api/v1")
    stream_base = os.environ.get("GUMLOOP_STREAM_BASE_URL", "https://ws.gumloop.com/api/v1")
    if _env("GUMLOOP_ACCESS_TOKEN"):
        kind, secret = ppb.CREDENTIAL_KIND_OAUTH_ACCESS_TOKEN, _env("GUMLOOP_ACCESS_TOKEN")
    else:
        kind, secret = ppb.CREDENTIAL_KIND_API_KEY, _env("GUMLOOP_API_KEY")
    return AccountSpec(
        display_name="Gumloop",
        kind=kind,
        secret=secret,
        user_id=_env("GUMLOOP_USER_ID"),
        team_id=_env("GUMLOOP_TEAM_ID"),
        api_base_url=api_base,
        stream_base_url=stream_base,
    )


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _credentials_problem() -> str | None:
    """Why the Gumloop credentials in the environment cannot be used, or None.

    A personal API key needs the user id (sent as `x-auth-key`); an OAuth access token does not.
    Half a configuration must not fall back to the emulator silently.
    """
    if _env("GUMLOOP_API_KEY") and not _env("GUMLOOP_ACCESS_TOKEN") and not _env("GUMLOOP_USER_ID"):
        return (
            "GUMLOOP_API_KEY is set but GUMLOOP_USER_ID is not: a personal API key needs the user id "
            "(sent as x-auth-key). Set GUMLOOP_USER_ID, use GUMLOOP_ACCESS_TOKEN (OAuth, no user id "
            "needed) instead, or unset GUMLOOP_API_KEY to run against the bundled emulator."
        )
    return None


def _real_gumloop_configured() -> bool:
    return bool(_env("GUMLOOP_ACCESS_TOKEN")) or bool(_env("GUMLOOP_API_KEY") and _env("GUMLOOP_USER_ID"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _startup_failure(exc: Exception) -> str:
    """What went wrong at start-up, for the `error` event: a gRPC error's code and details (our own
    services' messages, which may quote Gumloop's answer: redacted as a log line is, since the event
    is printed, not logged), else the exception's type."""
    import grpc  # loaded already by the bootstrap that failed

    if isinstance(exc, grpc.aio.AioRpcError):
        return redact(f"{exc.code().name}: {exc.details()}")
    return type(exc).__name__


def _emit(args: argparse.Namespace, event: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(event), flush=True)


async def _up(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    # Everything `up` and its children write holds or guards a secret: directories 0700, files 0600.
    os.umask(0o077)
    private_directory(data_dir)
    secrets = load_secrets(data_dir)
    store_env: dict[str, str] = {}
    if args.store == "redis" and not args.redis_url:
        print("gumloop-mcp: --store redis needs --redis-url", file=sys.stderr)
        return 2
    problem = _credentials_problem()
    if problem is not None:
        print(f"gumloop-mcp: {problem}", file=sys.stderr, flush=True)
        _emit(args, {"event": "error", "message": problem})
        return 2
    sup = Supervisor(on_event=lambda event: _emit(args, event))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        emulator_port: int | None = None
        if not _real_gumloop_configured():
            if importlib.util.find_spec("gumloop_mcp.emulator") is None:
                raise ChildExited("no Gumloop key configured and the emulator package is not installed")
            logger.warning(
                "no Gumloop credentials configured (GUMLOOP_API_KEY with GUMLOOP_USER_ID, or "
                "GUMLOOP_ACCESS_TOKEN): the upstream is the bundled Gumloop EMULATOR, not the real Gumloop"
            )
            emu = await sup.start(
                "emulator", SERVICE_MODULES["emulator"], {"GMCP_EMULATOR_PORT": str(args.emulator_port)}
            )
            emulator_port = emu.ports["http"]
            _emit(args, {"event": "serving", "service": "emulator", "ports": emu.ports})
        for svc in ("PROXY", "TOKENS"):
            store_env[f"GMCP_{svc}_STORE"] = args.store
            if args.redis_url:
                store_env[f"GMCP_{svc}_REDIS_URL"] = args.redis_url
        proxy = await sup.start(
            "proxy",
            SERVICE_MODULES["proxy"],
            {
                **store_env,
                "GMCP_PROXY_GRPC_PORT": str(args.proxy_port),
                "GMCP_PROXY_DATA_DIR": str(data_dir),
                "GMCP_PROXY_ENCRYPTION_KEY": secrets.proxy_encryption_key,
                "GMCP_PROXY_CALLER_TOKENS": secrets.callers_of("proxy"),
            },
        )
        proxy_target = f"{HOST}:{proxy.ports['grpc']}"
        _emit(args, {"event": "serving", "service": "proxy", "ports": proxy.ports})
        tokens = await sup.start(
            "tokens",
            SERVICE_MODULES["tokens"],
            {
                **store_env,
                "GMCP_TOKENS_GRPC_PORT": str(args.tokens_port),
                "GMCP_TOKENS_DATA_DIR": str(data_dir),
                "GMCP_TOKENS_PEPPER": secrets.tokens_pepper,
                "GMCP_TOKENS_PROXY_TARGET": proxy_target,
                "GMCP_TOKENS_CALLER_TOKENS": secrets.callers_of("tokens"),
                "GMCP_TOKENS_PROXY_CALLER_TOKEN": secrets.caller_tokens[("tokens", "proxy")],
            },
        )
        tokens_target = f"{HOST}:{tokens.ports['grpc']}"
        _emit(args, {"event": "serving", "service": "tokens", "ports": tokens.ports})
        # The management API builds minted URLs from the configured port, so port 0 is resolved
        # here (a free loopback port) rather than inside the façade.
        mcp_port = args.mcp_port or _free_port()
        facade = await sup.start(
            "facade",
            SERVICE_MODULES["facade"],
            # With --store redis the façade's whole shared state is in Redis, as replicas need it, so
            # more façade processes started with the same facade_env serve the same URLs.
            facade_env(
                secrets,
                tokens_target=tokens_target,
                proxy_target=proxy_target,
                data_dir=data_dir,
                redis_url=args.redis_url if args.store == "redis" else None,
                port=mcp_port,
                admin_port=args.admin_port,
            ),
        )
        _emit(args, {"event": "serving", "service": "facade", "ports": facade.ports})
        done = await bootstrap(
            data_dir,
            tokens_target,
            proxy_target,
            _account_spec(emulator_port),
            tokens_caller_token=secrets.caller_tokens[("cli", "tokens")],
            proxy_caller_token=secrets.caller_tokens[("cli", "proxy")],
        )
        base = f"http://{HOST}:{facade.ports['http']}"
        admin_url = f"http://{HOST}:{facade.ports['admin']}"
        connection.write_endpoints(data_dir, connection.Endpoints(base, admin_url))
        ready = {
            "event": "ready",
            "mcp_url": f"{base}/mcp/{done.mcp_token}",
            "admin_url": admin_url,
            "api_token": done.api_token,
            "account_id": done.account_id,
            "mcp_server_id": done.mcp_server_id,
            "upstream": "gumloop" if emulator_port is None else "emulator",
            "emulator_url": None if emulator_port is None else f"http://{HOST}:{emulator_port}",
            "tokens_grpc": tokens_target,
            "proxy_grpc": proxy_target,
        }
        if args.json:
            _emit(args, ready)
        else:
            _print_summary(ready)
        await sup.supervise(stop)  # restarts crashed services; raises ChildExited on a crash loop
        print("gumloop-mcp: stopping", file=sys.stderr, flush=True)
        return 0
    except ChildExited as exc:
        print(f"gumloop-mcp: {exc}", file=sys.stderr, flush=True)
        _emit(args, {"event": "error", "message": str(exc)})
        return 1
    except Exception as exc:  # bootstrap over gRPC failed: say what, stop the children
        logger.exception("start-up failed")
        _emit(args, {"event": "error", "message": f"start-up failed: {_startup_failure(exc)}"})
        return 1
    finally:
        await sup.stop_all()


def _print_summary(ready: dict[str, Any]) -> None:
    lines = [
        "",
        "gumloop-mcp is running.",
        f"  MCP URL (full scope demo server): {ready['mcp_url']}",
        f"  Management API:                   {ready['admin_url']}  (Authorization: Bearer <api token>)",
        f"  Management API token:             {ready['api_token']}  (kept in <data-dir>/api-token)",
    ]
    if ready["emulator_url"]:
        lines.append(
            f"  Upstream:                         the bundled Gumloop emulator, {ready['emulator_url']}"
            " (no Gumloop credentials configured)"
        )
    else:
        lines.append("  Upstream:                         the real Gumloop API")
    lines += [
        "",
        "Manage MCP servers, accounts and API tokens: gumloop-mcp servers list (see --help)",
        "",
        "Claude Desktop (claude_desktop_config.json; the token travels in a header, not the URL):",
        render_claude_desktop_config(str(ready["mcp_url"])),
        "",
        "Press Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)


def _cli_caller_token(data_dir: Path, server: str) -> str | None:
    """The token the CLI sends to `server`: env GMCP_CLI_<SERVER>_CALLER_TOKEN, else the one `up` made
    in `data_dir` (None when neither exists: the server must then be open)."""
    from .launcher import caller_token_path, read_secret_file

    return os.environ.get(f"GMCP_CLI_{server.upper()}_CALLER_TOKEN") or read_secret_file(
        caller_token_path(data_dir, "cli", server)
    )


async def _create_api_token(args: argparse.Namespace) -> int:
    import grpc

    from gumloop_mcp.runtime import create_channel
    from gumloop_mcp.tokens.v1 import tokens_service_pb2 as tpb
    from gumloop_mcp.tokens.v1.tokens_service_pb2_grpc import TokenServiceStub

    purposes = {
        "management": tpb.API_TOKEN_PURPOSE_MANAGEMENT,
        "mcp_client": tpb.API_TOKEN_PURPOSE_MCP_CLIENT,
    }
    chosen = [purposes[p] for p in (args.purpose or ["management"])]
    channel = create_channel(args.tokens_target, caller_token=_cli_caller_token(args.data_dir, "tokens"))
    try:
        response = await TokenServiceStub(channel).CreateApiToken(
            tpb.CreateApiTokenRequest(api_token=tpb.ApiToken(name=args.name, purposes=chosen)), timeout=30
        )
    except grpc.aio.AioRpcError as err:
        print(
            f"gumloop-mcp admin: the token service answered {err.code().name}: {err.details()}",
            file=sys.stderr,
        )
        return 1
    finally:
        await channel.close()
    print(json.dumps({"id": response.api_token.id, "name": response.api_token.name, "token": response.token}))
    return 0


def _claude_config(args: argparse.Namespace) -> int:
    url = args.url
    if url is None:
        directory = connection.data_dir(args.data_dir)
        token = connection.demo_server_token(directory)
        if token is None:
            print(
                f"gumloop-mcp claude-config: no demo server in {directory} (run `gumloop-mcp up` there "
                "first, pass --data-dir, or give --url)",
                file=sys.stderr,
            )
            return 2
        stored = connection.read_endpoints(directory)
        base = stored.mcp_base_url if stored is not None else connection.DEFAULT_MCP_BASE_URL
        url = f"{base}/mcp/{token}"
    try:
        snippet = render_claude_desktop_config(
            url, api_token=args.api_token, name=args.name, token_in_url=args.token_in_url
        )
    except ValueError as exc:
        print(f"gumloop-mcp claude-config: {exc} (or use --token-in-url)", file=sys.stderr)
        return 2
    print(snippet)
    return 0


def _run_service(name: str) -> int:
    import runpy

    runpy.run_module(SERVICE_MODULES[name], run_name="__main__", alter_sys=True)
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `gumloop-mcp` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "up":
        from gumloop_mcp.runtime import configure

        configure("INFO", json_format=False, stream=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            sys.exit(asyncio.run(_up(args)))
        sys.exit(130)
    if args.command == "claude-config":
        sys.exit(_claude_config(args))
    if args.command in cli_admin.COMMANDS:
        sys.exit(cli_admin.run(args))
    if args.command == "admin":
        sys.exit(asyncio.run(_create_api_token(args)))
    sys.exit(_run_service(args.command))


if __name__ == "__main__":
    main()
