"""The image runs hardened, ports are published on loopback only, the token service serves gRPC health,
and Redis restarts lose nothing."""

from __future__ import annotations

import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as pb_grpc

from .conftest import CALLER_METADATA, LOOPBACK, Stack, wait_redis


def test_service_containers_run_as_uid_10001_on_a_read_only_root_filesystem(base_stack: Stack):
    """The token service container is uid 10001 and cannot write outside its volumes."""
    tokens = base_stack.containers["tokens"]
    code, out = tokens.exec(["id", "-u"])
    assert (code, out.decode().strip()) == (0, "10001")
    code, _ = tokens.exec(["touch", "/opt/venv/written"])
    assert code != 0
    code, _ = tokens.exec(["touch", "/tmp/written"])
    assert code == 0


def test_every_published_port_is_bound_to_loopback_only(full_stack: Stack):
    """No container port is reachable on another host interface: each binding is 127.0.0.1 (docker port)."""
    published: dict[str, list[str]] = {}
    for name, container in full_stack.containers.items():
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        for port, bindings in (wrapped.attrs["NetworkSettings"]["Ports"] or {}).items():
            for binding in bindings or []:
                published.setdefault(f"{name} {port}", []).append(binding["HostIp"])
    # every service port the suite talks to is published, and only there
    assert {
        "tokens 50051/tcp",
        "facade 8080/tcp",
        "facade 8081/tcp",
        "facade2 8080/tcp",
        "proxy 50052/tcp",
        "emulator 8090/tcp",
    } <= set(published), published
    assert {ip for ips in published.values() for ip in ips} == {LOOPBACK}, published


def test_the_token_service_reports_serving_over_grpc_health(base_stack: Stack):
    """grpc.health.v1 answers SERVING on the published port (what the kubelet's grpc probe asks)."""
    with grpc.insecure_channel(f"{LOOPBACK}:{base_stack.ports['tokens']}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def _verify(stub: pb_grpc.TokenServiceStub, token: str) -> pb.VerifyApiTokenResponse:
    return stub.VerifyApiToken(
        pb.VerifyApiTokenRequest(token=token, purpose=pb.API_TOKEN_PURPOSE_MANAGEMENT),
        timeout=5,
        metadata=CALLER_METADATA,
    )


def test_an_api_token_still_verifies_after_redis_restarts(base_stack: Stack):
    """Redis keeps its AOF across a restart, and the token service reconnects by itself."""
    with grpc.insecure_channel(f"{LOOPBACK}:{base_stack.ports['tokens']}") as channel:
        stub = pb_grpc.TokenServiceStub(channel)
        created = stub.CreateApiToken(
            pb.CreateApiTokenRequest(
                api_token=pb.ApiToken(name="it-redis-restart", purposes=[pb.API_TOKEN_PURPOSE_MANAGEMENT])
            ),
            timeout=5,
            metadata=CALLER_METADATA,
        )
        assert _verify(stub, created.token).api_token.id == created.api_token.id

        redis = base_stack.containers["redis"]
        redis.get_wrapped_container().restart(timeout=10)
        wait_redis(redis)

        deadline = time.monotonic() + 15
        while True:
            try:
                verified = _verify(stub, created.token)
                break
            except grpc.RpcError as err:
                # only while the service's Redis connection is being re-established
                assert err.code() == grpc.StatusCode.UNAVAILABLE, err
                assert time.monotonic() < deadline, "the token service did not recover from the Redis restart"
                time.sleep(0.2)
        assert verified.api_token.id == created.api_token.id
        assert verified.api_token.name == "it-redis-restart"


def test_the_token_service_container_refuses_grpc_calls_without_a_caller_token(base_stack: Stack):
    """Bound to 0.0.0.0 with a caller list: a call without the token is UNAUTHENTICATED, health is not."""
    with grpc.insecure_channel(f"{LOOPBACK}:{base_stack.ports['tokens']}") as channel:
        stub = pb_grpc.TokenServiceStub(channel)
        for metadata in ((), (("authorization", "Bearer not-a-caller-0123456789abcdef"),)):
            try:
                stub.ListApiTokens(pb.ListApiTokensRequest(), timeout=5, metadata=metadata)
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAUTHENTICATED
            else:
                raise AssertionError("the token service answered a call without a caller token")
        assert stub.ListApiTokens(pb.ListApiTokensRequest(), timeout=5, metadata=CALLER_METADATA) is not None
