"""The emulator's in-memory state and how runs, sessions and jobs move through their states over time.

Progression is lazy: every request first calls ``advance(now)``, which moves each object whose deadline
has passed to its next state. Deadlines are base delays multiplied by ``time_scale``.

Concurrency follows the plan (plans.py): work that counts holds a slot (runs RUNNING/TERMINATING, sessions
processing, legacy interactions ASYNC_PROCESSING); at the limit Free/Pro get 429 and Enterprise work waits
in one FIFO ``queue`` (runs QUEUED, sessions queued; legacy interactions stay ASYNC_PROCESSING with no
deadline, the only state that API has). When a slot frees — at the finishing item's deadline, or at once
when a session is cancelled — the oldest waiting item of that pool starts, its delay counted from then.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from gumloop_mcp.emulator import approvals, files, session_queue
from gumloop_mcp.emulator.errors import ApiError
from gumloop_mcp.emulator.ids import iso as iso  # re-exported: the route modules take them from here
from gumloop_mcp.emulator.ids import new_id as new_id
from gumloop_mcp.emulator.plans import Concurrency, Pool

RUN_SECONDS = 3.0
KILL_SECONDS = 0.5
SESSION_SECONDS = 4.0
INTERACTION_SECONDS = 3.0
EXPORT_SECONDS = 2.0
EVALUATION_SECONDS = 2.0
Kind = Literal["run", "session", "interaction"]


def _ident(item: Run | Session | Job) -> str:
    return item.run_id if isinstance(item, Run) else item.id


@dataclass
class Blob:
    """Bytes served through signed links."""

    id: str
    filename: str
    media_type: str
    data: bytes


@dataclass
class Run:
    """A legacy flow run (get_pl_run)."""

    run_id: str
    saved_item_id: str
    user_id: str
    state: str
    created_ts: float
    inputs: dict[str, Any]
    finished_ts: float | None = None
    due: float | None = None
    log: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    fail_reason: str | None = None


@dataclass
class Session:
    """An agent conversation."""

    id: str
    agent_id: str
    name: str
    state: str
    created_at: float
    type: str = "api"
    metadata: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    due: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    # Waiting for a human (approvals.py): what is pending, whether this message's approvals were given,
    # and the approved tools / answers the reply reports.
    pending_approvals: list[dict[str, Any]] | None = None
    approved: bool = False
    decisions: list[str] = field(default_factory=list)


@dataclass
class Job:
    """A legacy agent interaction, a data export or a queued agent evaluation."""

    id: str
    kind: str
    state: str
    created_ts: float
    due: float | None
    payload: dict[str, Any] = field(default_factory=dict)
    finished_ts: float | None = None


@dataclass
class Store:
    """Everything the emulator knows."""

    user_id: str
    team_id: str
    time_scale: float
    concurrency: Concurrency
    saved_items: dict[str, dict[str, Any]] = field(default_factory=dict)
    workbooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    agent_versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, Blob] = field(default_factory=dict)
    skills: dict[str, dict[str, Any]] = field(default_factory=dict)
    mcp_servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)
    brain_docs: list[dict[str, Any]] = field(default_factory=list)
    evaluations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    evaluation_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Agent triggers by id (agent_triggers.py), their runs by trigger id, app rules by agent id.
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)
    trigger_runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    app_rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    audit_logs: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    queue: list[tuple[Kind, str]] = field(default_factory=list)
    # Per session: messages waiting to be sent (session_queue.py) and files uploaded into it by name.
    session_queues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    session_files: dict[str, dict[str, Blob]] = field(default_factory=dict)
    # Sharing of sessions, artifacts and skills, by (kind, id) (item_access.py).
    item_access: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Company Brain sources, organization evaluations, browser profiles (routes_brain, routes_org,
    # routes_browser_profiles; their work progresses lazily when read, see those modules).
    brain_sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    org_evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)
    browser_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def delay(self, seconds: float) -> float:
        """A base delay scaled by ``time_scale``."""
        return seconds * self.time_scale

    # --- blobs and artifacts -------------------------------------------------------------
    def add_blob(self, filename: str, media_type: str, data: bytes) -> Blob:
        """Store bytes to be served by a signed link."""
        blob = Blob(new_id("blob_"), filename, media_type, data)
        self.blobs[blob.id] = blob
        return blob

    def add_artifact(
        self, agent_id: str, session_id: str, filename: str, media_type: str, data: bytes, ts: float
    ) -> None:
        """Record an artifact produced by a session."""
        blob = self.add_blob(filename, media_type, data)
        art_id = new_id("art_")
        self.artifacts[art_id] = {
            "id": art_id,
            "version_id": new_id("av_"),
            "major_version": 1,
            "agent_id": agent_id,
            "session_id": session_id,
            "filename": filename,
            "created_at": iso(ts + next(self._seq) * 1e-3),
            "metadata": {"media_type": media_type, "size": len(data)},
            "creator": {"id": self.user_id},
            "_blob": blob.id,
            "_ts": ts,
        }

    # --- concurrency ---------------------------------------------------------------------
    def _active(self, pool: Pool) -> list[float]:
        """Deadlines of the work in progress that counts against ``pool`` (queued work never does)."""
        c = self.concurrency
        out: list[float] = []
        if c.pool("run") == pool:
            out += [r.due or 0.0 for r in self.runs.values() if r.state in {"RUNNING", "TERMINATING"}]
        if c.pool("session") == pool:
            out += [s.due or 0.0 for s in self.sessions.values() if s.state == "processing"]
            out += [
                j.due
                for j in self.jobs.values()
                if j.kind == "interaction" and j.state == "ASYNC_PROCESSING" and j.due is not None
            ]
        return out

    def admit(self, kind: Kind, now: float) -> bool:
        """Whether work of ``kind`` may start now (True) or must wait in the queue (False, Enterprise).

        Free/Pro (and no plan) at the limit: 429 with X-RateLimit-* and Retry-After (the earliest deadline
        of the work holding the slots)."""
        c = self.concurrency
        pool = c.pool(kind)
        active, limit = self._active(pool), c.limit(pool)
        waiting = any(c.pool(k) == pool for k, _ in self.queue)
        if len(active) < limit and not waiting:
            return True
        if c.queue:
            return False
        reset = min(active)
        raise ApiError(
            429,
            "rate_limit_exceeded",
            f"Concurrency limit reached: {len(active)} of {limit} {c.noun(pool)} in progress",
            type_="rate_limit_error",
            headers={
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(math.ceil(reset)),
                "Retry-After": str(max(1, math.ceil(reset - now))),
            },
        )

    def start(self, kind: Kind, item: Run | Session | Job, now: float, *, admitted: bool) -> int | None:
        """Begin ``item`` now, or queue it (QUEUED / queued) when not ``admitted``; its queue position."""
        if admitted:
            self._begin(kind, item, now)
            return None
        if isinstance(item, Run):
            item.state = "QUEUED"
            noun = self.concurrency.noun(self.concurrency.pool("run"))
            item.log.append(
                f"Run queued: all {self.concurrency.limit(self.concurrency.pool('run'))} concurrent {noun} "
                "of the plan are in use"
            )
        elif isinstance(item, Session):
            item.state = "queued"
        item.due = None
        self.queue.append((kind, _ident(item)))
        return self.queue_position(kind, _ident(item))

    def queue_position(self, kind: Kind, ident: str) -> int | None:
        """1-based FIFO position among the work waiting for the same pool; None when not queued."""
        pool = self.concurrency.pool(kind)
        waiting = [entry for entry in self.queue if self.concurrency.pool(entry[0]) == pool]
        return waiting.index((kind, ident)) + 1 if (kind, ident) in waiting else None

    def dequeue(self, kind: Kind, ident: str) -> bool:
        """Take queued work out of the queue (kill/cancel); whether it was queued."""
        if (kind, ident) in self.queue:
            self.queue.remove((kind, ident))
            return True
        return False

    def release(self, now: float) -> None:
        """Promote queued work (FIFO per pool) into slots freed at ``now``."""
        promoted = True
        while promoted:
            promoted = False
            for index, (kind, ident) in enumerate(self.queue):
                pool = self.concurrency.pool(kind)
                if len(self._active(pool)) < self.concurrency.limit(pool):
                    del self.queue[index]
                    self._begin(kind, self._lookup(kind, ident), now, was_queued=True)
                    promoted = True
                    break

    def _lookup(self, kind: Kind, ident: str) -> Run | Session | Job:
        if kind == "run":
            return self.runs[ident]
        if kind == "session":
            return self.sessions[ident]
        return self.jobs[ident]

    def _begin(self, kind: Kind, item: Run | Session | Job, now: float, *, was_queued: bool = False) -> None:
        if isinstance(item, Run):
            item.state = "RUNNING"
            item.due = now + self.delay(RUN_SECONDS)
            if was_queued:
                item.log.append("Run left the queue and started")
        elif isinstance(item, Session):
            item.state = "processing"
            item.due = now + self.delay(SESSION_SECONDS)
        else:
            item.due = now + self.delay(INTERACTION_SECONDS)

    # --- progression ---------------------------------------------------------------------
    def advance(self, now: float) -> None:
        """Move every object whose deadline has passed to its next state, in deadline order, promoting
        queued work into each slot at the moment it frees (so a promoted item's clock starts then)."""
        while (due := self._next_due(now)) is not None:
            t, item = due
            if isinstance(item, Run):
                self._finish_run(item)
            elif isinstance(item, Session):
                self._finish_session(item)
                session_queue.drain(self, item, t)
            else:
                self._finish_job(item, now)
            self.release(t)

    def _next_due(self, now: float) -> tuple[float, Run | Session | Job] | None:
        best: tuple[float, Run | Session | Job] | None = None
        items: list[Run | Session | Job] = [*self.runs.values(), *self.sessions.values(), *self.jobs.values()]
        for item in items:
            if item.due is not None and item.due <= now and (best is None or item.due < best[0]):
                best = (item.due, item)
        return best

    def _finish_run(self, run: Run) -> None:
        assert run.due is not None
        run.finished_ts = run.due
        run.due = None
        if run.state == "TERMINATING":
            run.state = "TERMINATED"
            run.log.append("Run terminated by user request")
        elif run.fail_reason:
            run.state = "FAILED"
            run.log.append(run.fail_reason)
        else:
            run.state = "DONE"
            name = self.saved_items.get(run.saved_item_id, {}).get("name", "flow")
            run.outputs = {"output": f"{name} finished", "inputs_echo": run.inputs}
            run.log.append("Output node: wrote 'output'")
            run.log.append("Run finished successfully")

    def _finish_session(self, session: Session) -> None:
        assert session.due is not None
        ts = session.due
        session.due = None
        last = next((m for m in reversed(session.messages) if m["role"] == "user"), None)
        prompt = str(last["content"]) if last else ""
        if "[fail]" in prompt:
            session.state = "failed"
            session.events.append(
                {"type": "error", "data": {"message": "Agent failed: tool error"}, "final": True}
            )
            return
        agent = self.agents.get(session.agent_id, {})
        if not session.approved:
            pending = approvals.pending_for(agent, self.mcp_servers, prompt, self.user_id)
            if pending:
                session.state = "approval_required"
                session.pending_approvals = pending
                session.events.append(
                    {
                        "type": "finish",
                        "data": {"state": "approval_required", "pending_approvals": pending},
                        "final": True,
                    }
                )
                return
        skills = [self.skills[s]["name"] for s in agent.get("skill_ids") or [] if s in self.skills]
        reply = f"Done: {prompt[:200]}" + (f" (used skills: {', '.join(skills)})" if skills else "")
        if session.decisions:
            reply += f" ({'; '.join(session.decisions)})"
        session.messages.append(
            {
                "id": new_id("msg_"),
                "role": "assistant",
                "content": reply,
                "created_at": iso(ts),
                "creator_id": None,
                "parts": None,
            }
        )
        for filename, media_type, data in files.artifact_set(prompt[:40] or session.name):
            self.add_artifact(session.agent_id, session.id, filename, media_type, data, ts)
        session.state = "completed"
        session.events.append({"type": "text-delta", "data": {"delta": reply}, "final": False})
        session.events.append({"type": "finish", "data": {"state": "completed"}, "final": True})

    def _finish_job(self, job: Job, now: float) -> None:
        if job.kind == "evaluation":  # queued by run_evaluations (routes_agent_extras.py): graded now
            job.state = "completed"
            job.finished_ts = job.due if job.due is not None else now
            job.due = None
            result = {**job.payload["result"], "created_ts": iso(job.finished_ts)}
            self.evaluations.setdefault(job.payload["agent_id"], []).append(result)
            return
        if job.kind == "export" and job.state == "REQUESTED":
            job.state = "IN_PROGRESS"
            job.due = now + self.delay(EXPORT_SECONDS)
            return
        ts = job.due if job.due is not None else now
        job.due = None
        if job.kind == "export":
            job.state = "COMPLETED"
            job.finished_ts = ts
            return
        message = str(job.payload.get("message", ""))
        if "[fail]" in message:
            job.state = "FAILED"
            job.payload["error_message"] = "Agent failed: the message requested a failure ([fail])"[:4096]
            return
        job.state = "COMPLETED"
        reply = f"Agent reply to: {message}"
        job.payload["response"] = reply
        job.payload.setdefault("messages", []).append(legacy_message("assistant", reply, ts))


def legacy_timestamp(ts: float) -> str:
    """A legacy agent message timestamp as Gumloop's docs show it: naive UTC with microseconds."""
    import datetime

    return (
        datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)
        .replace(tzinfo=None)
        .isoformat("T", "microseconds")
    )


def legacy_message(role: str, text: str, ts: float) -> dict[str, Any]:
    """A legacy agent interaction message: ``{id, role, content?, timestamp, parts}`` (the user's carries
    content and no parts; the assistant's carries its text as a text part)."""
    message: dict[str, Any] = {"id": new_id("msg_"), "role": role, "timestamp": legacy_timestamp(ts)}
    if role == "user":
        message.update(content=text, parts=[])
    else:
        message["parts"] = [{"id": new_id("part_"), "type": "text", "text": text}]
    return message
