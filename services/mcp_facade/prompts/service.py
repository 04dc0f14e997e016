"""prompts/list, prompts/get and completion/complete for one server scope.

A prompt is listed and served only when the scope admits every operation it needs; its text names
the scope's own tools. Argument values are completed from the account through the list operations
(agents, automation runs, skills), read with the scope like any tool call and only when in scope;
answers are kept a few seconds per server so that completing as someone types costs one read.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from ..contracts import ServerScope
from ..resources.errors import InvalidParams
from ..resources.operations import OperationCaller
from .catalog import PROMPTS, Argument, PromptSpec, ToolRef

__all__ = ["MAX_COMPLETIONS", "PromptService"]

MAX_COMPLETIONS: Final = 100
_MAX_ARGUMENT_CHARS: Final = 2_000
_CACHE_TTL_S: Final = 10.0
_CACHE_MAX: Final = 512
_LIST_LIMIT: Final = 100
_BY_NAME: Final = {prompt.name: prompt for prompt in PROMPTS}
# What each completing list operation yields: (value, text also matched), best first.
_RUN_ORDER: Final = {"FAILED": 0, "TERMINATED": 1}


def _values(operation: str, items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    if operation == "list_agents":
        return [(str(i["id"]), str(i.get("name") or "")) for i in items if i.get("id")]
    if operation == "list_skills":
        return [(str(i["name"]), str(i.get("description") or "")) for i in items if i.get("name")]
    if operation == "list_automation_runs":
        runs = sorted(
            (i for i in items if i.get("run_id")),
            key=lambda i: (_RUN_ORDER.get(str(i.get("state")), 2), str(i.get("created_ts") or "")),
        )
        return [(str(i["run_id"]), str(i.get("group") or "")) for i in runs]
    return []


class PromptService:
    """The prompts of one façade, shown per scope."""

    def __init__(self, caller: OperationCaller, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._caller = caller
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, list[tuple[str, str]]]] = {}

    async def _offered(self, scope: ServerScope) -> list[PromptSpec]:
        tools = await self._caller.tools(scope)
        return [p for p in PROMPTS if all(op in tools for op in p.needs)]

    async def list_prompts(self, scope: ServerScope) -> list[dict[str, Any]]:
        """The Prompt objects `scope` offers."""
        return [prompt.listed() for prompt in await self._offered(scope)]

    async def _prompt(self, scope: ServerScope, name: Any) -> PromptSpec:
        if not isinstance(name, str) or not name:
            raise InvalidParams("Invalid params: `name` must be a non-empty string")
        prompt = _BY_NAME.get(name)
        if prompt is None or prompt not in await self._offered(scope):
            raise InvalidParams(f"Unknown prompt: {name}")
        return prompt

    async def get(self, scope: ServerScope, name: Any, arguments: Any) -> dict[str, Any]:
        """The GetPromptResult (InvalidParams for an unknown prompt or bad arguments)."""
        prompt = await self._prompt(scope, name)
        args = _checked(prompt, arguments)
        ref = ToolRef(
            await self._caller.tools(scope), discovery=await self._caller.exposure(scope) == "discovery"
        )
        text = prompt.render(ref, args)
        return {
            "description": prompt.description,
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
        }

    async def complete(
        self, scope: ServerScope, name: Any, argument: Any, charge: Callable[[], Awaitable[None]]
    ) -> dict[str, Any]:
        """The `completion` of completion/complete for a prompt argument.

        `charge` takes one call from the server's budget; it runs only when Gumloop is read.
        """
        prompt = await self._prompt(scope, name)
        if not isinstance(argument, dict) or not isinstance(argument.get("name"), str):
            raise InvalidParams("Invalid params: `argument` must be {name, value}")
        spec = next((a for a in prompt.arguments if a.name == argument["name"]), None)
        if spec is None:
            raise InvalidParams(f"Prompt {prompt.name} has no argument {argument['name']!r}")
        value = argument.get("value", "")
        if not isinstance(value, str):
            raise InvalidParams("Invalid params: `argument.value` must be a string")
        candidates = await self._candidates(scope, spec, charge)
        needle = value.lower()
        found = [
            v for v, text in candidates if v.lower().startswith(needle) or (needle and needle in text.lower())
        ]
        return {
            "values": found[:MAX_COMPLETIONS],
            "total": len(found),
            "hasMore": len(found) > MAX_COMPLETIONS,
        }

    async def _candidates(
        self, scope: ServerScope, spec: Argument, charge: Callable[[], Awaitable[None]]
    ) -> list[tuple[str, str]]:
        operation = spec.completes_from
        if operation is None or operation not in await self._caller.tools(scope):
            return []  # nothing to complete from, or its list operation is out of scope
        key = (f"{scope.server_id}/{scope.account_id}", operation)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        await charge()
        values = _values(operation, await self._caller.items(scope, operation, {}, _LIST_LIMIT))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = (now + _CACHE_TTL_S, values)
        return values


def _checked(prompt: PromptSpec, arguments: Any) -> dict[str, str]:
    """The prompt's arguments, every required one present and every value a bounded string."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidParams("Invalid params: `arguments` must be an object of strings")
    known = {a.name for a in prompt.arguments}
    unknown = sorted(set(arguments) - known)
    if unknown:
        raise InvalidParams(
            f"Prompt {prompt.name} has no argument {unknown[0]!r}; it takes {', '.join(sorted(known))}"
        )
    out: dict[str, str] = {}
    for name, value in arguments.items():
        if not isinstance(value, str):
            raise InvalidParams(f"Invalid params: argument {name!r} must be a string")
        if len(value) > _MAX_ARGUMENT_CHARS:
            raise InvalidParams(
                f"Invalid params: argument {name!r} is longer than {_MAX_ARGUMENT_CHARS} characters"
            )
        if value.strip():
            out[name] = value.strip()
    missing = [a.name for a in prompt.arguments if a.required and a.name not in out]
    if missing:
        raise InvalidParams(
            f"Missing required argument{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
        )
    limit = out.get("limit")
    if limit is not None and not (limit.isdigit() and 1 <= int(limit) <= 50):
        raise InvalidParams("Invalid params: argument 'limit' must be a whole number from 1 to 50")
    return out
