"""The process wiring: serve() with a stop event, and `python -m services.tokens` as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as pb_grpc
from services.tokens.server import create_server, serve
from services.tokens.settings import TokenSettings
from tests.service.tokens.conftest import KNOWN_ACCOUNT, PEPPER, FakeProxy

REPO = Path(__file__).resolve().parents[3]


async def test_serve_announces_its_port_and_stops_on_the_event(
    fake_proxy: tuple[FakeProxy, str], tmp_path: Path
) -> None:
    """on_ready gets {"grpc": port}; the port answers health checks; setting `stop` ends serve()."""
    settings = TokenSettings(grpc_port=0, pepper=PEPPER, data_dir=tmp_path, proxy_target=fake_proxy[1])
    stop = asyncio.Event()
    ready: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, stop=stop, on_ready=ready.set_result))
    ports = await asyncio.wait_for(ready, 5)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ports['grpc']}") as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    stop.set()
    await asyncio.wait_for(task, 5)


def test_module_prints_one_serving_line_and_exits_on_sigterm(tmp_path: Path) -> None:
    """`python -m services.tokens` prints the serving JSON line on stdout and exits 0 on SIGTERM."""
    env = {
        **os.environ,
        "GMCP_TOKENS_GRPC_PORT": "0",
        "GMCP_TOKENS_DATA_DIR": str(tmp_path),
        "GMCP_TOKENS_PROXY_TARGET": "127.0.0.1:1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.tokens"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        announced = json.loads(line)
        assert announced["event"] == "serving" and announced["service"] == "tokens"
        assert announced["ports"]["grpc"] > 0
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert out == ""
        assert "shutting down" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)


async def test_an_injected_proxy_channel_is_used_and_left_open(
    fake_proxy: tuple[FakeProxy, str], tmp_path: Path
) -> None:
    """create_server(proxy_channel=...) talks to the proxy through that channel and does not close it."""
    settings = TokenSettings(grpc_port=0, pepper=PEPPER, data_dir=tmp_path, proxy_target="127.0.0.1:1")
    spec = pb.McpServer(name="via channel", account_id=KNOWN_ACCOUNT)
    async with grpc.aio.insecure_channel(fake_proxy[1]) as proxy_channel:
        service = await create_server(settings, proxy_channel=proxy_channel)
        async with service, grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = pb_grpc.TokenServiceStub(channel)
            created = await stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
        assert created.mcp_server.name == "via channel"
        assert fake_proxy[0].list_operations_calls == 1
        assert proxy_channel.get_state() != grpc.ChannelConnectivity.SHUTDOWN
