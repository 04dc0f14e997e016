"""The ProxyService RPCs: accounts, catalog, invoke, stream, flow input schemas, artifacts.

Each handler turns its work into proxy errors; `_guard` maps them to gRPC statuses through
status.to_status (the one mapping) and turns anything unexpected into INTERNAL without leaking
internals. Credentials are only read to build auth headers and are never logged or returned.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import grpc
import httpx

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from gumloop_mcp.runtime import json_dumps, json_loads

from . import errors
from .accounts import AccountStore, StoredAccount, new_account_from_proto
from .arguments import parse_arguments, validate_arguments
from .catalog import Catalog, OperationSpec
from .decoding import ContentDecoder
from .download import artifact_host_refusal, download_limited
from .flowinputs import (
    derive_schema,
    inputs_from_get_inputs,
    normalize_pipeline_inputs,
    to_upstream,
    validate_pipeline_inputs,
)
from .idempotency import IdempotencyStore, MemoryIdempotencyStore, fingerprint
from .oauth_accounts import OAuthConnections
from .ratelimit import parse_rate_limit
from .requests import UpstreamRequest, build_request, integral
from .settings import ProxySettings
from .status import to_status
from .streaming import iter_events, iter_lines
from .transport import BodyTooLarge
from .upstream import Upstream, UpstreamResponse, malformed, read_bounded, useful_headers

__all__ = ["ProxyServicer"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


async def _abort(context: grpc.aio.ServicerContext, error: errors.ProxyError) -> NoReturn:
    await context.abort_with_status(to_status(error))
    raise AssertionError("abort_with_status returned")  # pragma: no cover


async def _guard(context: grpc.aio.ServicerContext, work: Callable[[], Awaitable[_T]]) -> _T:
    try:
        return await work()
    except errors.ProxyError as exc:
        _log_failure(exc)
        await _abort(context, exc)
    except (grpc.aio.AbortError, grpc.aio.UsageError):
        raise
    except Exception:
        logger.exception("unexpected error")
        await context.abort(grpc.StatusCode.INTERNAL, "internal error in the Gumloop proxy")
        raise


def _log_failure(exc: errors.ProxyError) -> None:
    # Only the kind of failure: messages may quote upstream bodies or download links.
    if isinstance(exc, errors.UpstreamError):
        logger.info("%s: %s HTTP %d", type(exc).__name__, exc.operation, exc.http_status)
    else:
        logger.info("request refused: %s", type(exc).__name__)


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


class ProxyServicer(pb_grpc.ProxyServiceServicer):
    """Implements gumloop_mcp.proxy.v1.ProxyService."""

    def __init__(
        self,
        settings: ProxySettings,
        catalog: Catalog,
        store: AccountStore,
        upstream: Upstream,
        idempotency: IdempotencyStore | None = None,
        *,
        decoder: ContentDecoder | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        # Owned by the caller (server.py closes it); a servicer built without one gets its own.
        self._decoder = decoder or ContentDecoder(settings.decode_workers, settings.decode_cache_max_bytes)
        self._catalog = catalog
        self._store = store
        self._upstream = upstream
        self._idempotency = idempotency or MemoryIdempotencyStore(settings.idempotency_ttl_s)
        self._oauth = OAuthConnections(settings, store, upstream.client, clock=clock)

    # -- accounts ---------------------------------------------------------------------------

    async def CreateIntegratedAccount(
        self, request: pb.CreateIntegratedAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateIntegratedAccountResponse:
        async def work() -> pb.CreateIntegratedAccountResponse:
            stored = await self._store.create(new_account_from_proto(request, self._settings))
            logger.info("account %s created (%s)", stored.id, pb.CredentialKind.Name(request.credential.kind))
            return pb.CreateIntegratedAccountResponse(account=stored.to_proto())

        return await _guard(context, work)

    async def GetIntegratedAccount(
        self, request: pb.GetIntegratedAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIntegratedAccountResponse:
        async def work() -> pb.GetIntegratedAccountResponse:
            if not request.account_id:
                raise errors.InvalidArguments([("account_id", "is required")])
            # As stored: an account that cannot be used is shown with its state, not refused.
            return pb.GetIntegratedAccountResponse(
                account=(await self._store.get(request.account_id)).to_proto()
            )

        return await _guard(context, work)

    async def ListIntegratedAccounts(
        self, request: pb.ListIntegratedAccountsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListIntegratedAccountsResponse:
        async def work() -> pb.ListIntegratedAccountsResponse:
            if not 0 <= request.page_size <= 100:
                raise errors.InvalidArguments(
                    [("page_size", "must be between 1 and 100 (0 for the default 50)")]
                )
            accounts, token = await self._store.list(request.page_size or 50, request.page_token)
            return pb.ListIntegratedAccountsResponse(
                accounts=[a.to_proto() for a in accounts], next_page_token=token
            )

        return await _guard(context, work)

    async def DeleteIntegratedAccount(
        self, request: pb.DeleteIntegratedAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteIntegratedAccountResponse:
        async def work() -> pb.DeleteIntegratedAccountResponse:
            if not request.account_id:
                raise errors.InvalidArguments([("account_id", "is required")])
            account = await self._store.get(request.account_id)
            await self._store.delete(request.account_id)
            logger.info("account %s deleted", request.account_id)
            await self._oauth.revoke(account)
            return pb.DeleteIntegratedAccountResponse()

        return await _guard(context, work)

    async def StartAccountOAuth(
        self, request: pb.StartAccountOAuthRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartAccountOAuthResponse:
        return await _guard(context, lambda: self._oauth.start(request))

    async def CompleteAccountOAuth(
        self, request: pb.CompleteAccountOAuthRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompleteAccountOAuthResponse:
        return await _guard(context, lambda: self._oauth.complete(request))

    async def _account(self, account_id: str) -> StoredAccount:
        """The account ready for a call (an OAuth connection refreshed first when its token is expiring)."""
        if not account_id:
            raise errors.InvalidArguments([("account_id", "is required")])
        return await self._oauth.usable(await self._store.get(account_id))

    async def _send(
        self,
        op: OperationSpec,
        arguments: Mapping[str, Any],
        account: StoredAccount,
        deadline: float | None,
        *,
        retry_safe: bool,
        built: UpstreamRequest | None = None,
    ) -> UpstreamResponse:
        """Send one buffered call; an OAuth connection answered 401 is refreshed and the call sent once more
        (a 401 means Gumloop did not act on it). `built` is the request already built for `account`."""

        async def send(holder: StoredAccount) -> UpstreamResponse:
            request = built
            if request is None or holder is not account:  # a refreshed OAuth holder carries a new token
                request = build_request(op, arguments, holder)
            return await self._upstream.send(
                request,
                account_id=holder.id,
                max_concurrency=holder.max_concurrency,
                operation=op.name,
                deadline=deadline,
                retry_safe=retry_safe,
            )

        try:
            return await send(account)
        except errors.UpstreamError as exc:
            if exc.http_status != 401 or account.credential_kind != "oauth_connection":
                raise
        return await send(await self._oauth.after_unauthorized(account))

    # -- catalog ----------------------------------------------------------------------------

    async def ListOperations(
        self, request: pb.ListOperationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOperationsResponse:
        operations = self._catalog.select(request.kinds, request.tags, request.names)
        return pb.ListOperationsResponse(operations=operations, catalog_version=self._catalog.version)

    async def GetOperation(
        self, request: pb.GetOperationRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetOperationResponse:
        async def work() -> pb.GetOperationResponse:
            return pb.GetOperationResponse(operation=self._operation(request.name).proto)

        return await _guard(context, work)

    def _operation(self, name: str) -> OperationSpec:
        if not name:
            raise errors.InvalidArguments([("operation", "is required")])
        op = self._catalog.get(name)
        if op is None:
            raise errors.NotFound(f"unknown operation {name!r}; ListOperations lists the catalog")
        return op

    # -- invoke -----------------------------------------------------------------------------

    async def InvokeOperation(
        self, request: pb.InvokeOperationRequest, context: grpc.aio.ServicerContext
    ) -> pb.InvokeOperationResponse:
        return await _guard(context, lambda: self._invoke(request, _deadline(context)))

    async def _invoke(
        self, request: pb.InvokeOperationRequest, deadline: float | None
    ) -> pb.InvokeOperationResponse:
        op = self._operation(request.operation)
        arguments = parse_arguments(request.arguments_json)
        validate_arguments(op.input_schema, arguments)
        if op.streams and (op.fixed_query.get("stream") == "true" or arguments.get("stream") is True):
            raise errors.InvalidArguments(
                [
                    (
                        "stream" if "stream" in arguments else "operation",
                        "streams its answer; call StreamOperation",
                    )
                ]
            )
        account = await self._account(request.account_id)
        upstream_arguments = await self._dynamic_inputs(op, arguments, account, deadline)
        # Built now, so that its bounds are checked before anything is sent; the first attempt sends it.
        built = build_request(op, upstream_arguments, account)
        if request.validate_only:
            return pb.InvokeOperationResponse()

        async def call() -> bytes:
            response = await self._send(
                op,
                upstream_arguments,
                account,
                deadline,
                retry_safe=op.method == "GET" and op.idempotent,
                built=built,
            )
            return (await self._to_invoke_response(op, response)).SerializeToString()

        if not request.idempotency_key:
            return pb.InvokeOperationResponse.FromString(await call())
        if len(request.idempotency_key) > 200:
            raise errors.InvalidArguments([("idempotency_key", "must be at most 200 characters")])
        # Scoped to this incarnation of the account (id and creation time): an account deleted and
        # created again under the same id, perhaps with another Gumloop credential, replays nothing.
        scope = f"{account.id}@{int(account.created_at.timestamp() * 1_000_000)}"
        # Fingerprinted as sent (5.0 and 5 are one argument for an integer), so a retry is not refused.
        digest = fingerprint(op.name, integral(op.input_schema, arguments))
        data, replayed = await self._idempotency.run(
            scope, request.idempotency_key, digest, call, deadline=deadline
        )
        answer = pb.InvokeOperationResponse.FromString(data)
        answer.idempotent_replay = replayed
        return answer

    async def _dynamic_inputs(
        self, op: OperationSpec, arguments: dict[str, Any], account: StoredAccount, deadline: float | None
    ) -> dict[str, Any]:
        """For flows: check pipeline_inputs against the flow's declared inputs, in upstream form."""
        if not op.has_dynamic_inputs:
            return arguments
        inputs = await self._flow_inputs(account, str(arguments["saved_item_id"]), deadline)
        schema = derive_schema(inputs)
        values = normalize_pipeline_inputs(arguments.get("pipeline_inputs"))
        validate_pipeline_inputs(schema, values)
        return {**arguments, "pipeline_inputs": to_upstream(values)}

    async def _call_json(
        self, name: str, arguments: Mapping[str, Any], account: StoredAccount, deadline: float | None
    ) -> Any:
        op = self._operation(name)
        response = await self._send(op, arguments, account, deadline, retry_safe=op.method == "GET")
        try:
            return json_loads(response.content)
        except (ValueError, RecursionError) as exc:
            raise malformed(name, response.status, "not JSON") from exc

    async def _flow_inputs(
        self, account: StoredAccount, saved_item_id: str, deadline: float | None
    ) -> list[pb.FlowInput]:
        body = await self._call_json("get_inputs", {"saved_item_id": saved_item_id}, account, deadline)
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise malformed("get_inputs", 200, "expected an `inputs` list")
        return inputs_from_get_inputs(body)

    async def _to_invoke_response(
        self, op: OperationSpec, response: UpstreamResponse
    ) -> pb.InvokeOperationResponse:
        answer = pb.InvokeOperationResponse(http_status=response.status, headers=dict(response.headers))
        rate_limit = parse_rate_limit(response.headers, time.time())
        if rate_limit is not None:
            answer.rate_limit.CopyFrom(rate_limit.to_proto())
        if not response.content:
            return answer
        if response.is_json:
            try:
                parsed = json_loads(response.content)
            except (ValueError, RecursionError) as exc:  # RecursionError: a nesting bomb
                raise malformed(
                    op.name, response.status, "content-type says JSON but the body is not"
                ) from exc
            answer.body_json = json_dumps(parsed)
            return answer
        filename = _filename(response.headers.get("content-disposition", "")) or (
            op.name + (mimetypes.guess_extension(response.media_type) or "")
        )
        answer.content.CopyFrom(
            await self._decoder.decode(
                response.content,
                media_type=response.media_type or "application/octet-stream",
                filename=filename,
                offset=0,
                limit=self._settings.markdown_default_limit,
                max_image_bytes=self._settings.max_image_bytes,
                total_size=len(response.content),
                complete=True,
            )
        )
        return answer

    # -- streams ----------------------------------------------------------------------------

    async def StreamOperation(
        self, request: pb.StreamOperationRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamOperationResponse]:
        deadline = _deadline(context)
        try:
            op = self._operation(request.operation)
            if not op.streams:
                raise errors.InvalidArguments(
                    [("operation", f"{op.name} does not stream; call InvokeOperation")]
                )
            arguments = parse_arguments(request.arguments_json)
            validate_arguments(op.input_schema, arguments)
            if "stream" in op.input_schema.get("properties", {}):
                if arguments.get("stream") is False:
                    raise errors.InvalidArguments(
                        [("stream", "must be true (or omitted) for StreamOperation")]
                    )
                arguments = {**arguments, "stream": True}
            account = await self._account(request.account_id)
            count = 0
            async with self._open_stream(op, arguments, account, deadline) as response:
                yield pb.StreamOperationResponse(
                    start=pb.StreamStart(
                        http_status=response.status_code, headers=useful_headers(response.headers)
                    )
                )
                ceiling = self._settings.max_response_bytes
                media = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if media and media != "text/event-stream":
                    # Not a stream (a whole JSON answer, say): relayed as one "message" event
                    # rather than parsed as SSE into nothing; start.headers carry its content type.
                    data = await _whole_body(response, ceiling, op.name)
                    if data:
                        count = 1
                        yield pb.StreamOperationResponse(event=pb.StreamEvent(event="message", data=data))
                else:
                    lines = iter_lines(response.aiter_text(), ceiling)
                    async for event in iter_events(lines, max_event_chars=ceiling):
                        count += 1
                        yield pb.StreamOperationResponse(
                            event=pb.StreamEvent(event=event.event, data=event.data, id=event.id)
                        )
            yield pb.StreamOperationResponse(end=pb.StreamEnd(event_count=count))
        except errors.ProxyError as exc:
            _log_failure(exc)
            await _abort(context, exc)
        except (grpc.aio.AbortError, grpc.aio.UsageError):
            raise
        except Exception:
            logger.exception("unexpected error in a stream")
            await context.abort(grpc.StatusCode.INTERNAL, "internal error in the Gumloop proxy")

    @asynccontextmanager
    async def _open_stream(
        self, op: OperationSpec, arguments: Mapping[str, Any], account: StoredAccount, deadline: float | None
    ) -> AsyncIterator[httpx.Response]:
        """The upstream stream, open with a 2xx status. An OAuth connection answered 401 at open is
        refreshed once and the stream opened again: nothing was relayed to the client yet."""

        async def open_with(holder: StoredAccount, stack: AsyncExitStack) -> httpx.Response:
            return await stack.enter_async_context(
                self._upstream.stream(
                    build_request(op, arguments, holder),
                    account_id=holder.id,
                    max_concurrency=holder.max_concurrency,
                    operation=op.name,
                    deadline=deadline,
                )
            )

        async with AsyncExitStack() as stack:
            try:
                response = await open_with(account, stack)
            except errors.UpstreamError as exc:
                if exc.http_status != 401 or account.credential_kind != "oauth_connection":
                    raise
                response = await open_with(await self._oauth.after_unauthorized(account), stack)
            yield response

    # -- flows and artifacts ----------------------------------------------------------------

    async def GetFlowInputSchema(
        self, request: pb.GetFlowInputSchemaRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetFlowInputSchemaResponse:
        async def work() -> pb.GetFlowInputSchemaResponse:
            if not request.saved_item_id:
                raise errors.InvalidArguments([("saved_item_id", "is required")])
            account = await self._account(request.account_id)
            inputs = await self._flow_inputs(account, request.saved_item_id, _deadline(context))
            return pb.GetFlowInputSchemaResponse(
                inputs=inputs, schema_json=json.dumps(derive_schema(inputs), sort_keys=True)
            )

        return await _guard(context, work)

    async def ReadArtifact(
        self, request: pb.ReadArtifactRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReadArtifactResponse:
        return await _guard(context, lambda: self._read_artifact(request, _deadline(context)))

    async def ReadSkill(
        self, request: pb.ReadSkillRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReadSkillResponse:
        return await _guard(context, lambda: self._read_skill(request, _deadline(context)))

    async def _read_artifact(
        self, request: pb.ReadArtifactRequest, deadline: float | None
    ) -> pb.ReadArtifactResponse:
        violations = self._window_violations(request.offset, request.limit)
        if not request.artifact_id:
            violations.insert(0, ("artifact_id", "is required"))
        if request.max_image_bytes < 0:
            violations.append(("max_image_bytes", "must not be negative"))
        if violations:
            raise errors.InvalidArguments(violations)
        arguments = {"artifact_id": request.artifact_id}
        if request.version_id:
            arguments["version_id"] = request.version_id
        max_image = min(
            request.max_image_bytes or self._settings.max_image_bytes, self._settings.max_image_bytes
        )
        meta, content = await self._read_download(
            "get_artifact", arguments, request.account_id, request.artifact_id, request.offset,
            request.limit, max_image, deadline,
        )  # fmt: skip
        return pb.ReadArtifactResponse(
            artifact_id=request.artifact_id,
            version_id=str(meta.get("version_id") or request.version_id),
            content=content,
        )

    async def _read_skill(self, request: pb.ReadSkillRequest, deadline: float | None) -> pb.ReadSkillResponse:
        violations = self._window_violations(request.offset, request.limit)
        if not request.skill_id:
            violations.insert(0, ("skill_id", "is required"))
        if violations:
            raise errors.InvalidArguments(violations)
        arguments = {"skill_id": request.skill_id}
        if request.version_id:
            arguments["version_id"] = request.version_id
        meta, content = await self._read_download(
            "get_skill_download", arguments, request.account_id, request.skill_id, request.offset,
            request.limit, 0, deadline,
        )  # fmt: skip
        return pb.ReadSkillResponse(
            skill_id=request.skill_id,
            version_id=str(meta.get("version_id") or request.version_id),
            content=content,
        )

    def _window_violations(self, offset: int, limit: int) -> list[tuple[str, str]]:
        violations = []
        if offset < 0:
            violations.append(("offset", "must not be negative"))
        if not 0 <= limit <= self._settings.markdown_max_limit:
            violations.append(
                ("limit", f"must be between 1 and {self._settings.markdown_max_limit} (0 for the default)")
            )
        return violations

    async def _read_download(
        self,
        operation: str,
        arguments: dict[str, Any],
        account_id: str,
        fallback_name: str,
        offset: int,
        limit: int,
        max_image_bytes: int,
        deadline: float | None,
    ) -> tuple[dict[str, Any], pb.DecodedContent]:
        """Call `operation` for a signed link, download it within the limits and decode it."""
        settings = self._settings
        account = await self._account(account_id)
        meta = await self._call_json(operation, arguments, account, deadline)
        url = meta.get("download_url") if isinstance(meta, dict) else None
        if not isinstance(url, str) or not url:
            raise malformed(operation, 200, "no download_url in the answer")
        self._check_download_host(url, account)
        timeout_s = settings.artifact_download_timeout_s
        if deadline is not None:
            timeout_s = max(0.01, min(timeout_s, deadline - time.monotonic()))
        result = await download_limited(
            self._upstream.client, url, max_bytes=settings.artifact_max_bytes, timeout_s=timeout_s
        )
        content = await self._decoder.decode(
            result.data,
            media_type=str(meta.get("media_type") or result.media_type or "application/octet-stream"),
            filename=str(meta.get("filename") or result.filename or fallback_name),
            offset=offset,
            limit=limit or settings.markdown_default_limit,
            max_image_bytes=max_image_bytes,
            total_size=result.total_size if result.total_size is not None else _int(meta.get("size")),
            complete=result.complete,
        )
        content.download_url = url
        return meta, content

    def _check_download_host(self, url: str, account: StoredAccount) -> None:
        own = [(urlsplit(u).hostname or "") for u in (account.api_base_url, account.stream_base_url)]
        why = artifact_host_refusal(url, own, self._settings.artifact_download_hosts)
        if why is not None:
            raise errors.DownloadFailed(f"refusing to download the artifact: {why}")


async def _whole_body(response: httpx.Response, ceiling: int, operation: str) -> str:
    """The text of a (non-SSE) stream answer, read whole up to `ceiling` bytes."""
    try:
        body = await read_bounded(response, ceiling)
    except BodyTooLarge as exc:
        raise errors.UpstreamTooLarge(
            f"Gumloop's answer is larger than {ceiling} bytes (max_response_bytes)", operation=operation
        ) from exc
    try:
        return body.decode(response.encoding or "utf-8")
    except (LookupError, UnicodeDecodeError) as exc:
        media = response.headers.get("content-type", "")
        raise malformed(operation, response.status_code, f"a {media} stream answer that is not text") from exc


def _filename(disposition: str) -> str:
    match = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', disposition)
    return match.group(1).strip() if match else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
