"""The façade's gRPC backends: the token service and the Gumloop proxy.

One channel per backend, shared by every request (round-robin over replicas,
keepalive; see `gumloop_mcp.runtime.create_channel`). The management API and the
protocol layer both take a `Backends`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import grpc
from pydantic import SecretStr

from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from gumloop_mcp.runtime import GrpcClientMetrics, create_channel
from gumloop_mcp.tokens.v1.tokens_service_pb2_grpc import TokenServiceStub

from ..settings import FacadeSettings

__all__ = ["Backends", "connect_backends"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Backends:
    """Stubs for the two backends plus the channels behind them (for readiness and close)."""

    tokens: TokenServiceStub
    proxy: ProxyServiceStub
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)

    def ready(self) -> dict[str, bool]:
        """Per backend: whether its channel is connected (or idle, i.e. will connect on use)."""
        out: dict[str, bool] = {}
        for name, channel in self.channels.items():
            state = channel.get_state(try_to_connect=True)
            out[name] = state in (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.IDLE)
        return out

    async def wait_ready(self, timeout_s: float) -> dict[str, bool]:
        """Like `ready()`, but gives each channel up to `timeout_s` to reach READY."""

        async def one(channel: grpc.aio.Channel) -> bool:
            try:
                await asyncio.wait_for(channel.channel_ready(), timeout_s)
            except TimeoutError:
                return False
            return True

        names = list(self.channels)
        results = await asyncio.gather(*(one(self.channels[n]) for n in names))
        return dict(zip(names, results, strict=True))

    async def close(self) -> None:
        """Close every channel (in-flight calls are cancelled)."""
        for channel in self.channels.values():
            await channel.close()


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


async def connect_backends(settings: FacadeSettings, metrics: GrpcClientMetrics | None = None) -> Backends:
    """Open channels to the token service and the proxy (lazily connected) and build stubs; with
    `metrics`, their calls are counted (grpc_client_*)."""
    tokens_channel = create_channel(
        settings.tokens_target, caller_token=_secret(settings.tokens_caller_token), metrics=metrics
    )
    proxy_channel = create_channel(
        settings.proxy_target, caller_token=_secret(settings.proxy_caller_token), metrics=metrics
    )
    logger.info("backends: tokens=%s proxy=%s", settings.tokens_target, settings.proxy_target)
    return Backends(
        tokens=TokenServiceStub(tokens_channel),
        proxy=ProxyServiceStub(proxy_channel),
        channels={"tokens": tokens_channel, "proxy": proxy_channel},
    )
