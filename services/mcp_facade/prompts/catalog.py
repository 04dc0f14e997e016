"""The prompts: what each asks for, which operations it needs, and the messages it renders.

A prompt's text names the tools this server exposes for the scope (`ToolRef`): in full exposure the
tool itself, in discovery exposure `call_tool` with that tool's name. Optional steps appear only when
their operation is in scope; a prompt whose required operations are not all in scope is not offered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["PROMPTS", "Argument", "PromptSpec", "ToolRef"]


class ToolRef:
    """How the rendered text tells the model to call an operation's tool in this scope."""

    def __init__(self, tools: Mapping[str, str], *, discovery: bool) -> None:
        self._tools = tools
        self._discovery = discovery

    def has(self, operation: str) -> bool:
        return operation in self._tools

    def name(self, operation: str) -> str:
        return self._tools[operation]

    def call(self, operation: str, arguments: dict[str, Any]) -> str:
        """ "call `tool` with {...}" (or through call_tool when the scope lists tools on demand)."""
        name = self._tools[operation]
        if self._discovery:
            wrapped = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
            return f"call `call_tool` with {wrapped}"
        return f"call `{name}` with {json.dumps(arguments, ensure_ascii=False)}"


@dataclass(frozen=True, slots=True)
class Argument:
    name: str
    description: str
    required: bool = False
    # The list operation whose items complete this argument (prompts/completion.py), if any.
    completes_from: str | None = None


@dataclass(frozen=True, slots=True)
class PromptSpec:
    name: str
    title: str
    description: str
    arguments: tuple[Argument, ...]
    # Operations the prompt cannot do without: out of scope, the prompt is not offered.
    needs: tuple[str, ...]
    render: Callable[[ToolRef, dict[str, str]], str]

    def listed(self) -> dict[str, Any]:
        """The MCP Prompt object."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "arguments": [
                {"name": a.name, "description": a.description, "required": a.required} for a in self.arguments
            ],
        }


def _steps(lines: list[str]) -> str:
    return "\n".join(f"{n}. {line}" for n, line in enumerate(lines, start=1))


def _diagnose(ref: ToolRef, args: dict[str, str]) -> str:
    run_id = args["run_id"]
    steps = [
        f"{ref.call('get_pl_run', {'run_id': run_id})}. Read `state` and the `log` lines: a line starting "
        "with ERROR names the failing node and the reason.",
    ]
    if ref.has("list_automation_runs"):
        steps.append(
            f"{ref.call('list_automation_runs', {'saved_item_id': '<the run’s saved_item_id>'})} to see the "
            "automation's recent runs: did earlier runs succeed, and since when does it fail?"
        )
    if ref.has("get_inputs"):
        steps.append(
            f"{ref.call('get_inputs', {'saved_item_id': '<the run’s saved_item_id>'})} and check the inputs "
            "the automation expects against what the failing node received."
        )
    restart = ""
    if ref.has("start_pipeline"):
        restart = f" Once it is fixed, `{ref.name('start_pipeline')}` runs the automation again."
    steps.append(
        "Report what failed, the likely root cause and the fix (for example a credential to reconnect or an "
        f"input to correct). Do not start the automation again unless I ask.{restart}"
    )
    return (
        f"Diagnose why the Gumloop automation run {run_id} failed, using this server's tools.\n\n"
        + _steps(steps)
    )


def _deploy(ref: ToolRef, args: dict[str, str]) -> str:
    agent_id, skill, task = args["agent_id"], args["skill_name"], args["task"]
    find = (
        f"Find the skill: {ref.call('list_skills', {'search_query': skill})} and take the `id` of the skill "
        f"named exactly {json.dumps(skill)}."
    )
    if ref.has("create_skill"):
        find += (
            f" If there is none, deploy it first with `{ref.name('create_skill')}` (a SKILL.md whose front "
            f"matter has `name: {skill}` and a `description`; ask me for its content if you do not have it)."
        )
    else:
        find += " If there is none, stop and tell me: this server cannot deploy new skills."
    wait = (
        f"{ref.call('get_session', {'session_id': '<session.id>', 'wait_seconds': 60})} until its state is "
        "completed, failed or approval_required (then tell me what waits for approval)."
    )
    report = "Report the agent's answer"
    if ref.has("list_artifacts"):
        listing = ref.call("list_artifacts", {"agent_id": agent_id, "session_id": "<session.id>"})
        report += f" and the files it produced ({listing})"
    steps = [
        find,
        f"Attach it: {ref.call('update_agent_skills', {'agent_id': agent_id, 'attach': ['<skill id>']})}.",
        f"Run the agent: {ref.call('create_session', {'agent_id': agent_id, 'input': task})}.",
        f"Follow the session: {wait}",
        f"{report}.",
    ]
    return (
        f"Deploy the skill {json.dumps(skill)} to the Gumloop agent {agent_id} and run the agent with it.\n\n"
        + _steps(steps)
    )


def _summarise(ref: ToolRef, args: dict[str, str]) -> str:
    agent_id, limit = args["agent_id"], int(args.get("limit") or 10)
    steps = [
        f"{ref.call('list_sessions', {'agent_id': agent_id, 'limit': limit})} (newest first).",
        f"For each session, {ref.call('get_session', {'session_id': '<id>'})} to read its messages.",
        "Summarise: one line per session (name, state, what was asked, what the agent answered or why it "
        "failed), then the common themes, the failures, and the sessions waiting for a human "
        "(state approval_required).",
    ]
    return f"Summarise the {limit} most recent sessions of the Gumloop agent {agent_id}.\n\n" + _steps(steps)


_AGENT = Argument("agent_id", "The agent's id.", required=True, completes_from="list_agents")

PROMPTS: Final = (
    PromptSpec(
        "diagnose_failed_run",
        "Diagnose a failed automation run",
        "Reads a failed Gumloop automation run, its log and the automation's recent runs, and explains the "
        "cause and the fix.",
        (Argument("run_id", "The failed run's id.", required=True, completes_from="list_automation_runs"),),
        ("get_pl_run",),
        _diagnose,
    ),
    PromptSpec(
        "deploy_skill_and_run_agent",
        "Deploy a skill and run an agent with it",
        "Attaches a skill to a Gumloop agent (deploying it first if needed), starts a session with a task "
        "and follows it to the answer.",
        (
            _AGENT,
            Argument("skill_name", "The skill's name.", required=True, completes_from="list_skills"),
            Argument("task", "What to ask the agent to do.", required=True),
        ),
        ("list_skills", "update_agent_skills", "create_session", "get_session"),
        _deploy,
    ),
    PromptSpec(
        "summarise_agent_sessions",
        "Summarise an agent's recent sessions",
        "Reads a Gumloop agent's most recent sessions and summarises what was asked, answered and what "
        "failed.",
        (_AGENT, Argument("limit", "How many recent sessions (1-50, default 10).")),
        ("list_sessions", "get_session"),
        _summarise,
    ),
)
