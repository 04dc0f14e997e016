"""Model routing, decisions and the personal wiki (official SDK 0.5.9 ``Models.route``, ``Decisions``,
``Wiki``), answered deterministically from the request so tests can assert on them.

Routing puts a task in the ``deep`` lane (high reasoning effort) when it is long or asks to prove, plan or
analyse, in the ``fast`` lane otherwise, and picks the first available candidate. Decisions answer each
question by word overlap between the state and the question's criteria.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gumloop_mcp.emulator.context import emu, json_body, required
from gumloop_mcp.emulator.errors import ApiError, bad_request
from gumloop_mcp.emulator.store import Store, iso, new_id

routes = web.RouteTableDef()
API = "/api/v1"
DEEP_WORDS = ("prove", "plan", "analyse", "analyze", "theorem", "design")
WIKI_TYPES = ("person", "organization", "project", "agent", "profile", "note", "tone", "design")


def _model_ids(store: Store) -> list[str]:
    return [m["id"] for group in store.models for m in group["models"]]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@routes.post(API + "/models/route")
async def route_model(request: web.Request) -> web.Response:
    """A routing decision over the requested (or every) model."""
    e, body = emu(request), await json_body(request)
    task = body.get("input", body.get("message"))
    if task is None or task == "" or task == []:
        raise bad_request("input or message is required", param="input")
    if not isinstance(task, str | list):
        raise bad_request("input must be a string or a list of content parts", param="input")
    known = _model_ids(e.store)
    requested = body.get("models")
    if requested is not None and (
        not isinstance(requested, list) or not all(isinstance(m, str) for m in requested)
    ):
        raise bad_request("models must be a list of model ids", param="models")
    text = _text(task).lower()
    deep = len(text) > 400 or any(w in text for w in DEEP_WORDS)
    lane = "deep" if deep else "fast"
    candidates = [
        {
            "requested_model": m,
            "model": m,
            "lanes": ["deep", "fast"] if "sonnet" in m or "gpt-4.1" in m else ["fast"],
            "lane_basis": "catalog",
            "status": "available" if m in known else "unknown_model",
        }
        for m in (requested or known)
    ]
    usable = [c for c in candidates if c["status"] == "available"]
    if not usable:
        raise ApiError(404, "model_not_found", "none of the requested models is available", param="models")
    fitting = [c for c in usable if lane in c["lanes"]] or usable
    chosen = fitting[0]
    route = {
        "model": chosen["model"],
        "lane": lane,
        "verdict_lane": lane,
        "adjustment": None if lane in chosen["lanes"] else "lane_unavailable",
        "reasoning_effort": "high" if deep else "low",
        "fallback_models": [c["model"] for c in usable if c is not chosen],
        "fail_closed": False,
    }
    return web.json_response({"router": "gumloop-chew", "route": route, "candidates": candidates})


def _overlap(state: str, text: str) -> int:
    return sum(1 for w in set(text.lower().split()) if len(w) > 2 and w in state)


def _answer(name: str, question: Any, state: str) -> dict[str, Any]:
    where = f"questions.{name}"
    if not isinstance(question, dict) or "instructions" not in question:
        raise bad_request(f"{where} needs type and instructions", param=where)
    kind, criteria = question.get("type"), question.get("criteria")
    if kind == "noul":
        hits = _overlap(state, _text(question["instructions"]))
        return {"type": "noul", "noul": 1.0 if hits else 0.0}
    if kind == "choice":
        if not isinstance(criteria, dict) or not criteria:
            raise bad_request(f"{where}.criteria must name the choices", param=where)
        scores = {k: _overlap(state, f"{k} {_text(v or '')}") for k, v in criteria.items()}
        best = max(scores, key=lambda k: scores[k])
        total = sum(scores.values()) or 1
        probabilities = {
            k: round(v / total, 3) if sum(scores.values()) else round(1 / len(scores), 3)
            for k, v in scores.items()
        }
        return {
            "type": "choice",
            "choice": best,
            "confidence": probabilities[best],
            "probabilities": probabilities,
        }
    if kind == "score":
        if not isinstance(criteria, list) or not criteria:
            raise bad_request(f"{where}.criteria must list the score levels", param=where)
        levels = [_overlap(state, _text(c)) for c in criteria]
        level = max(range(len(levels)), key=lambda i: levels[i])
        return {
            "type": "score",
            "score": float(level),
            "confidence": 0.8,
            "legend": {str(i): c for i, c in enumerate(criteria)},
        }
    raise bad_request(f"{where}.type must be noul, choice or score", param=where)


@routes.post(API + "/decisions")
async def create_decision(request: web.Request) -> web.Response:
    """Answers to every question about the state."""
    e, body = emu(request), await json_body(request)
    model = required(body, "model")
    if model not in _model_ids(e.store):
        raise ApiError(404, "model_not_found", f"model {model!r} not found", param="model")
    if "state" not in body:
        raise bad_request("state is required", param="state")
    questions = body.get("questions")
    if not isinstance(questions, dict) or not questions:
        raise bad_request("questions must name at least one question", param="questions")
    state = _text(body["state"]).lower()
    answers = {name: _answer(name, q, state) for name, q in questions.items()}
    usage = {
        "input_tokens": len(state) // 4 + 1,
        "output_tokens": 5 * len(answers),
        "cost": 0.0001 * len(answers),
    }
    return web.json_response(
        {"answers": answers, "model": model, "usage": usage, "id": new_id("dec_"), "provider": "emulator"}
    )


def _cards(store: Store, now: float) -> list[dict[str, Any]]:
    def fact(n: int, text: str, kind: str = "fact") -> dict[str, Any]:
        source = {
            "type": "session",
            "subject_id": "sess_seed_1",
            "label": "Onboarding chat",
            "agent_id": None,
        }
        return {
            "id": f"fact_{n}",
            "kind": kind,
            "text": text,
            "origin": "agent",
            "pinned": n == 1,
            "sources": [{**source, "locator": None, "observed_at": iso(now - 86400)}],
            "first_seen_at": iso(now - 10 * 86400),
            "last_seen_at": iso(now - 86400),
        }

    base: dict[str, Any] = {
        "status": "active",
        "icon_url": None,
        "linked_user": None,
        "agent_ids": [],
        "updated_at": iso(now),
    }
    return [
        {
            **base,
            "type": "profile",
            "entity_key": "me",
            "name": "Ada Lovelace",
            "summary": "Runs operations; prefers short answers.",
            "linked_user": {
                "id": store.user_id,
                "first_name": "Ada",
                "last_name": "Lovelace",
                "email": "ada@example.com",
                "profile_picture": None,
            },
            "row_facts": {"role": "Operations lead"},
            "facts": [fact(1, "Prefers answers under five bullet points.", "preference")],
        },
        {
            **base,
            "type": "organization",
            "entity_key": "example-corp",
            "name": "Example Corp",
            "summary": "The customer behind the Q3 lead enrichment work.",
            "row_facts": {"industry": "Software"},
            "facts": [fact(2, "Renews its contract every September.")],
        },
        {
            **base,
            "type": "project",
            "entity_key": "onboarding-revamp",
            "name": "Onboarding revamp",
            "summary": "New-hire laptops, accounts and first tasks in one flow.",
            "agent_ids": ["agent_support"],
            "row_facts": {"status": "in progress"},
            "facts": [fact(3, "Due at the end of the quarter.")],
        },
        {
            **base,
            "type": "tone",
            "entity_key": "house-style",
            "name": "House style",
            "summary": "Plain, friendly, no jargon.",
            "row_facts": {},
            "facts": [],
        },
    ]


@routes.post(API + "/wiki/query")
async def query_wiki(request: web.Request) -> web.Response:
    """Cards, filtered by type and entity_key."""
    e, body = emu(request), await json_body(request)
    kind, key = body.get("type"), body.get("entity_key")
    if kind is not None and kind not in WIKI_TYPES:
        raise bad_request(f"type must be one of {list(WIKI_TYPES)}", param="type")
    cards = _cards(e.store, e.clock.now())
    if kind is not None:
        cards = [c for c in cards if c["type"] == kind]
    if key is not None:
        cards = [c for c in cards if c["entity_key"] == key]
    return web.json_response({"cards": cards})
