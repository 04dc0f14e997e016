"""The bundled Gumloop API emulator (aiohttp): both hosts on one port, seeded demo data, state progression
on an injectable clock, Gumloop's plans (``GMCP_EMULATOR_PLAN`` free | pro | enterprise: concurrency limits
for workflow runs and agent interactions, 429 on Free/Pro, FIFO queueing on Enterprise; unset = one pool of
``max_concurrent_runs``, default 3, refusing with 429), agent/skill versions, signed artifact links, SSE,
fault injection. Settings: settings.py; plans: plans.py.

It answers as Gumloop's OpenAPI documents and official SDK (``gumloop``) say, checked by tests/oracle: errors
in each endpoint family's form (errors.py), a guMCP catalog (mcp_catalog.py), and sessions that pause in
``approval_required`` for a human (approvals.py: an agent's MCP server with ``approval_mode`` ``all`` or
``write`` pauses every message before its first such tool; ``[ask]`` in a message asks a question; answered
by POST /sessions/{id}/approvals). ``[fail]`` in a message makes a run, session or chat completion fail.
The SDK-only routes: a session's message queue (session_queue.py: drained in order as turns end), files and
rename; sharing of sessions, artifacts and skills with artifact link passwords kept hashed (item_access.py);
artifact versions, rename and delete; the skill sync plan; accounts connected to an MCP server; agent
triggers with runs and stats (agent_triggers.py) and the other SDK-only agent settings (agent_extras.py);
Company Brain
sources with drafts, estimates, approval, sync runs and searchable file uploads (routes_brain.py); model
routing, decisions and the wiki (routes_inference.py); organizations and organization evaluations with
targets, runs and graded results (routes_org.py); browser profiles that keep cookie counts, never values
(routes_browser_profiles.py)."""

from gumloop_mcp.emulator.app import RunningEmulator, create_app, start_emulator
from gumloop_mcp.emulator.settings import EmulatorSettings

__all__ = ["EmulatorSettings", "RunningEmulator", "create_app", "start_emulator"]
