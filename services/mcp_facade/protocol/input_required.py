"""Input-required results (2026-07-28 "multi round-trip requests", SEP-2322): asking the client mid-request.

A 2026-07-28 server never sends the client a request of its own. A handler that needs input (an
elicitation, a sampling, the roots) raises `InputRequired`; the request is answered with an
`InputRequiredResult` (`resultType: "input_required"`, `inputRequests` keyed by ids the server
chose, and a sealed `requestState`). The client fulfils the requests and retries the *same* request
with `inputResponses` (same keys) and the `requestState` it was given; the handler runs again and
finds them in `CallContext.inputs`:

    answer = ctx.inputs.responses.get("confirm")
    if answer is None:
        raise InputRequired({"confirm": elicitation("Delete it?", {...})}, state={"step": 1})
    # ctx.inputs.state is {"step": 1}: what the previous round sealed, verified

`requestState` is HMAC-signed and bound to the method, the tool name and an expiry: a tampered,
expired or transplanted state is refused with -32602 (the client cannot forge a handler's state).
`InputRequired` itself lives in contracts.py (the tool layer raises it: approvals of paused Gumloop
sessions) and is re-exported here; the protocol lets a call raise it only when `CallContext.input_rounds`.
Inside a task (tasks.py) the same `InputRequired` parks the task in `input_required` and
`tasks/update` delivers the responses; the handler is re-run with them, its state kept server-side.
Session revisions (2025-06-18 / 2025-11-25) have no input-required result: the protocol refuses such
a call with -32021 naming the capability (or a session transport may send real server requests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Final

from ..contracts import INPUT_REQUEST_CAPABILITY, InputRequired, InputRound
from .jsonrpc import INVALID_PARAMS, MISSING_CLIENT_CAPABILITY, JsonRpcError

__all__ = [
    "InputRequired",
    "InputRound",
    "RequestStateCodec",
    "elicitation",
    "missing_capability",
    "read_round",
    "required_capabilities",
]

# The client capability each kind of input request needs.
_CAPABILITY_OF: Final = INPUT_REQUEST_CAPABILITY
_STATE_TTL_S: Final = 3600.0


def elicitation(message: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A form-mode `elicitation/create` input request."""
    return {
        "method": "elicitation/create",
        "params": {"mode": "form", "message": message, "requestedSchema": schema},
    }


def required_capabilities(requests: dict[str, dict[str, Any]], declared: dict[str, Any]) -> dict[str, Any]:
    """The client capabilities the requests need that `declared` lacks ({} when none is missing)."""
    missing: dict[str, Any] = {}
    for request in requests.values():
        capability = _CAPABILITY_OF[str(request["method"])]
        if not isinstance(declared.get(capability), dict):
            missing[capability] = {}
    return missing


def missing_capability(required: dict[str, Any], why: str) -> JsonRpcError:
    """MissingRequiredClientCapabilityError (-32021, HTTP 400) naming `required` as ClientCapabilities."""
    return JsonRpcError(
        MISSING_CLIENT_CAPABILITY,
        f"Missing required client capability: {why}",
        {"requiredCapabilities": required},
        http_status=400,
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class RequestStateCodec:
    """Seals handler state into an opaque, signed `requestState` bound to one request shape."""

    def __init__(self, secret: bytes, ttl_s: float = _STATE_TTL_S) -> None:
        self._secret = secret
        self._ttl_s = ttl_s

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, b"request-state:" + payload.encode(), hashlib.sha256).digest())

    def seal(self, state: Any, target: str) -> str:
        """`state` (JSON) for the request `target` (e.g. "tools/call:name")."""
        claims = {"t": target, "e": int(time.time() + self._ttl_s), "s": state}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def open(self, token: Any, target: str) -> Any:
        """The state sealed for `target`, or -32602 when it was altered, expired or is another's."""
        refused = JsonRpcError(
            INVALID_PARAMS, "Invalid params: requestState is not one this server issued for this request"
        )
        if not isinstance(token, str) or token.count(".") != 1:
            raise refused
        payload, signature = token.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise refused
        try:
            claims = json.loads(_unb64(payload))
        except ValueError:
            raise refused from None
        if not isinstance(claims, dict) or claims.get("t") != target:
            raise refused
        if not isinstance(claims.get("e"), int) or claims["e"] < time.time():
            raise JsonRpcError(
                INVALID_PARAMS, "Invalid params: requestState expired; send the request afresh"
            )
        return claims.get("s")

    def result(self, exc: InputRequired, target: str) -> dict[str, Any]:
        """The InputRequiredResult for `exc`."""
        result: dict[str, Any] = {"resultType": "input_required"}
        if exc.requests:
            result["inputRequests"] = exc.requests
        result["requestState"] = self.seal(exc.state, target)
        return result


def read_round(params: dict[str, Any], codec: RequestStateCodec, target: str) -> InputRound:
    """The request's `inputResponses` and verified `requestState` (-32602 when malformed)."""
    responses = params.get("inputResponses", {})
    if "inputResponses" in params and (
        not isinstance(responses, dict) or not all(isinstance(v, dict) for v in responses.values())
    ):
        raise JsonRpcError(
            INVALID_PARAMS, "Invalid params: inputResponses must map input request ids to result objects"
        )
    state = codec.open(params["requestState"], target) if "requestState" in params else None
    return InputRound(dict(responses), state)
