"""A fake toolbox that maps catalog operations to tools (contracts.Toolbox + OperationTools), for
prompts, completions and resources: the unit tests of features.py and the replicas' subscription test."""

from __future__ import annotations

from typing import Any

from services.mcp_facade.contracts import CallContext, ServerScope, UnknownToolError

ALL_OPS = {
    "get_pl_run": "get_single_gumloop_run_by_id",
    "list_automation_runs": "list_all_gumloop_automation_runs",
    "get_inputs": "get_single_gumloop_automation_input_by_id",
    "list_agents": "list_all_gumloop_agents",
    "list_skills": "list_all_gumloop_skills",
    "update_agent_skills": "update_a_gumloop_agent_skills_by_id",
    "create_session": "create_a_gumloop_session",
    "get_session": "get_single_gumloop_session_by_id",
    "list_sessions": "list_all_gumloop_sessions",
    "get_skill_download": "get_single_gumloop_skill_download_by_id",
}
RUNS = [
    {"group": "si_a", "run_id": "run_ok", "state": "DONE"},
    {"group": "si_a", "run_id": "run_bad", "state": "FAILED"},
]


class FakeToolbox:
    """contracts.Toolbox + OperationTools: `ops` is what the scope admits; calls are recorded."""

    def __init__(self, ops: dict[str, str], exposure: str = "full") -> None:
        self.ops = ops
        self.mode = exposure
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.session_state = "completed"

    async def operation_tools(self, scope: ServerScope) -> dict[str, str]:
        return dict(self.ops)

    async def exposure(self, scope: ServerScope) -> str:
        return self.mode

    async def list_tools(self, scope: ServerScope) -> list[dict[str, Any]]:
        return [{"name": n} for n in self.ops.values()]

    async def call_tool(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        if name not in self.ops.values():
            raise UnknownToolError(name)
        self.calls.append((name, arguments))
        if name == ALL_OPS["list_automation_runs"]:
            return {"content": [], "structuredContent": {"items": RUNS, "next_cursor": None}}
        if name == ALL_OPS["list_agents"]:
            items = [{"id": "agent_research", "name": "Research"}, {"id": "agent_support", "name": "Support"}]
            return {"content": [], "structuredContent": {"items": items, "next_cursor": None}}
        if name == ALL_OPS["get_pl_run"] and arguments["run_id"] == "run_gone":
            return {
                "content": [{"type": "text", "text": "no run"}],
                "isError": True,
                "structuredContent": {"error": "not_found"},
            }
        if name == ALL_OPS["get_session"]:
            return {"content": [], "structuredContent": {"session": {"state": self.session_state}}}
        return {"content": [], "structuredContent": {"ok": True, "arguments": arguments}}
