"""Agent triggers (official SDK 0.5.9 ``Agents.*_trigger*``): list, create, get, update, delete, the webhook
URL (the only read that carries it), runs, stats and the integration operators. Logic in agent_triggers.py."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gumloop_mcp.emulator import agent_triggers
from gumloop_mcp.emulator.context import Emulator, emu, json_body
from gumloop_mcp.emulator.errors import bad_request, not_found
from gumloop_mcp.emulator.pagination import paginate
from gumloop_mcp.emulator.routes_agents import agent_or_404

routes = web.RouteTableDef()
BASE = "/api/v1/agents/{agent_id}"
ONE = BASE + "/triggers/{trigger_id}"


def _trigger(e: Emulator, request: web.Request) -> dict[str, Any]:
    """The agent's trigger named in the path, or 404 (another agent's trigger is not found either)."""
    agent = agent_or_404(e, request.match_info["agent_id"])
    tid = request.match_info["trigger_id"]
    trigger = e.store.triggers.get(tid)
    if trigger is None or trigger["agent_id"] != agent["id"]:
        raise not_found("trigger", tid)
    return trigger


def _base_url(e: Emulator, request: web.Request) -> str:
    return e.settings.public_base_url or f"{request.scheme}://{request.host}"


@routes.get(BASE + "/triggers")
async def list_triggers(request: web.Request) -> web.Response:
    """The agent's triggers, oldest first, cursor-paginated; never a webhook URL."""
    e = emu(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    page, nxt = paginate(agent_triggers.of_agent(e.store, agent["id"]), request.query)
    triggers = [agent_triggers.public(t) for t in page]
    return web.json_response({"agent_id": agent["id"], "triggers": triggers, "next_cursor": nxt})


@routes.post(BASE + "/triggers")
async def create_trigger(request: web.Request) -> web.Response:
    """A new trigger (201 ``{trigger}``); a webhook's URL is in this answer."""
    e, body = emu(request), await json_body(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    trigger = agent_triggers.create(e.store, agent["id"], body, e.now())
    url = agent_triggers.webhook_url(_base_url(e, request), trigger) if trigger["type"] == "webhook" else None
    return web.json_response({"trigger": agent_triggers.public(trigger, with_url=url)}, status=201)


@routes.get(ONE)
async def get_trigger(request: web.Request) -> web.Response:
    """One trigger, without its webhook URL."""
    e = emu(request)
    return web.json_response({"trigger": agent_triggers.public(_trigger(e, request))})


@routes.patch(ONE)
async def update_trigger(request: web.Request) -> web.Response:
    """Change the fields sent."""
    e, body = emu(request), await json_body(request)
    trigger = agent_triggers.update(e.store, _trigger(e, request), body)
    return web.json_response({"trigger": agent_triggers.public(trigger)})


@routes.delete(ONE)
async def delete_trigger(request: web.Request) -> web.Response:
    """Remove the trigger and its runs."""
    e = emu(request)
    trigger = _trigger(e, request)
    del e.store.triggers[trigger["id"]]
    e.store.trigger_runs.pop(trigger["id"], None)
    agent_triggers.recount(e.store, trigger["agent_id"])
    return web.json_response({"agent_id": trigger["agent_id"], "trigger_id": trigger["id"], "deleted": True})


@routes.get(ONE + "/webhook-url")
async def get_webhook_url(request: web.Request) -> web.Response:
    """A webhook trigger's URL (it embeds the secret); 400 for other trigger types."""
    e = emu(request)
    trigger = _trigger(e, request)
    if trigger["type"] != "webhook":
        raise bad_request(
            f"trigger {trigger['id']!r} is a {trigger['type']} trigger; only webhooks have a URL"
        )
    url = agent_triggers.webhook_url(_base_url(e, request), trigger)
    return web.json_response(
        {"agent_id": trigger["agent_id"], "trigger_id": trigger["id"], "webhook_url": url}
    )


@routes.get(ONE + "/runs")
async def list_runs(request: web.Request) -> web.Response:
    """The trigger's runs, newest first, optionally only some comma-separated ``state``s."""
    e = emu(request)
    runs = e.store.trigger_runs.get(_trigger(e, request)["id"], [])
    if states := request.query.get("state"):
        wanted = {s.strip() for s in states.split(",") if s.strip()}
        runs = [r for r in runs if r["state"] in wanted]
    page, nxt = paginate(runs, request.query)
    return web.json_response({"items": page, "next_cursor": nxt})


@routes.get(ONE + "/stats")
async def get_stats(request: web.Request) -> web.Response:
    """Run count and credits of the trigger."""
    e = emu(request)
    return web.json_response(agent_triggers.stats(e.store, _trigger(e, request)))


@routes.get(BASE + "/trigger-operators")
async def list_operators(request: web.Request) -> web.Response:
    """The integration events a trigger of this agent can fire on."""
    e = emu(request)
    agent_or_404(e, request.match_info["agent_id"])
    return web.json_response({"operators": agent_triggers.OPERATORS})
