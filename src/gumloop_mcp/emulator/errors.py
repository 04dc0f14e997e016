"""Gumloop's error envelope and the exceptions handlers raise.

    ApiError (status, code, type, message, param, headers); the codes the emulator answers:
    ├── 400 invalid_request, interaction_gummie_mismatch, skill_not_found   (invalid_request_error)
    ├── 401 unauthorized                                                    (authentication_error)
    ├── 403 forbidden, signature_invalid                                    (permission_error)
    ├── 404 not_found, gummie_not_found, interaction_not_found, mcp_server_not_found, model_not_found,
    │       skill_not_found
    │       brain_source_not_found, brain_file_not_found, organization_not_found, evaluation_not_found,
    │       evaluation_result_not_found, agent_not_found, team_not_found, user_not_found,
    │       browser_profile_not_found            (routes_brain, routes_org, routes_browser_profiles)
    ├── 405 method_not_allowed
    ├── 409 session_already_exists, agent_already_exists, interaction_not_in_terminal_state
    │       source_not_approved, source_not_draft, sync_in_progress, evaluation_name_taken, default_profile
    ├── 413 payload_too_large
    ├── 429 rate_limit_exceeded       (rate_limit_error, with X-RateLimit-* and Retry-After)
    ├── 500 upload_failed             (api_error: every file of /upload_files failed)
    └── 502 signing_failed            (api_error: a download link that cannot be signed, its file gone)
        502 upstream_error            (api_error: a chat completion whose model provider failed, which
                                       the emulator does for a last user message containing [fail])

How an error is answered depends on the endpoint family, as Gumloop does (its SDK's errors.py parses all
three; the middleware in app.py picks the form by route, ``form_for``):

- ``envelope`` — the v1 resource API (agents, sessions, skills, MCP, artifacts, evaluations, teams, models,
  brain, chat): ``{"error": {code, message, type, param, details}}``;
- ``flat`` — the older flow, file and organization endpoints (start_pipeline, get_pl_run, upload_file,
  get_audit_logs, export_data, ...): Gumloop's PublicError ``{"error": code, "message", "metadata"}``
  (metadata = details, plus ``param`` when one is named);
- ``bare`` — the legacy agent endpoints (start_agent, agent_status/{id}): a bare string, the documented
  error string (``gummie_not_found``, ``interaction_not_found``, ``gummie_id is required``...), as text.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web

Form = Literal["envelope", "flat", "bare"]


class ApiError(Exception):
    """An error answered with Gumloop's envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.type = type_
        self.param = param
        self.details = details or {}
        self.headers = headers or {}

    def response(self, form: Form = "envelope") -> web.Response:
        """This error answered in ``form`` (see the module docstring)."""
        if form == "bare":
            # The documented legacy strings: the code, or for a plain bad request its message.
            text = self.message if self.code == "invalid_request" else self.code
            return web.Response(text=text, status=self.status, headers=self.headers)
        if form == "flat":
            metadata = {**self.details, **({"param": self.param} if self.param else {})}
            flat = {"error": self.code, "message": self.message, "metadata": metadata}
            return web.json_response(flat, status=self.status, headers=self.headers)
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "details": self.details,
            }
        }
        return web.json_response(body, status=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None, *, code: str = "invalid_request") -> ApiError:
    """400 invalid_request (or a more specific documented code)."""
    return ApiError(400, code, message, param=param)


def not_found(what: str, ident: str) -> ApiError:
    """404 for a missing resource."""
    return ApiError(404, "not_found", f"{what} {ident!r} not found", param=None)


def unauthorized(message: str) -> ApiError:
    """401 for missing or wrong credentials."""
    return ApiError(401, "unauthorized", message, type_="authentication_error")


def forbidden(message: str) -> ApiError:
    """403 for a caller that may not touch the resource."""
    return ApiError(403, "forbidden", message, type_="permission_error")
