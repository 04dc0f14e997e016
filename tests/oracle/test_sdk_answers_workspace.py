"""ANSWERS for the resources only the SDK describes (Company Brain sources and files, model routing,
decisions, the wiki, organizations and organization evaluations, browser profiles): Gumloop's official
SDK drives the emulator through each, so every answer must parse into the SDK's typed models (a pydantic
ValidationError fails the test) and carry what the emulator's rules say."""

from __future__ import annotations

import pytest
from gumloop import AsyncGumloop
from gumloop.errors import GumloopError

from gumloop_mcp.emulator import RunningEmulator

from .conftest import Answers, FakeTime

POLICY = b"Leave policy: 25 days a year, carried over until March."


async def test_brain_sources_files_sync_and_approval(sdk: AsyncGumloop, fake_time: FakeTime) -> None:
    """A draft is estimated from its files and indexes once approved; a ready source syncs; seeded
    connected sources list their documents, runs and issues."""
    seeded = (await sdk.brain.list_sources(scope="organization")).sources
    assert {s.source_type for s in seeded} >= {"notion", "google_drive"} and {s.status for s in seeded} == {
        "ready"
    }
    drive = next(s.id for s in seeded if s.source_type == "google_drive")
    assert [i.skip_reason for i in (await sdk.brain.list_source_issues(drive)).items] == ["too_large"]
    children = await sdk.brain.list_source_children(drive, query="sales")
    assert [c.title for c in children.items] == ["Q3 sales plan"] and children.connector_id == drive
    assert (await sdk.brain.list_sync_runs(drive)).items[0].status == "succeeded"

    draft = (await sdk.brain.create_source("Policies", require_approval=True)).source
    assert (draft.status, draft.scope, draft.source_type) == ("draft", "personal", "direct_file_uploads")
    assert (await sdk.brain.get_estimate(draft.id)).estimate is None
    uploaded = await sdk.brain.upload_files(draft.id, {"policy.txt": POLICY, "empty.txt": b""})
    assert [f.status for f in uploaded.files] == ["pending_approval"] and uploaded.sync_run_id is None
    assert [r.file_name for r in uploaded.rejected] == ["empty.txt"]
    estimate = (await sdk.brain.get_estimate(draft.id)).estimate
    assert estimate is not None and estimate.document_count == 1 and estimate.estimated_credits == 1
    with pytest.raises(GumloopError):
        await sdk.brain.sync_source(draft.id)  # a draft is approved, not synced
    assert (await sdk.brain.approve_source(draft.id)).source.status == "syncing"
    fake_time.now += 5
    assert (await sdk.brain.get_source(draft.id)).source.status == "ready"
    files = (await sdk.brain.list_files(draft.id)).files
    assert [(f.file_name, f.status) for f in files] == [("policy.txt", "indexed")] and files[0].document_id
    assert [c.title for c in (await sdk.brain.list_source_children(draft.id)).items] == ["policy.txt"]
    found = (await sdk.brain.search("carried over march", source_type=["direct_file_uploads"])).results
    assert [(r.title, r.parent_title) for r in found] == [("policy.txt", "Policies")]

    queued = await sdk.brain.sync_source(draft.id)
    assert queued.status == "queued" and queued.sync_run_id
    runs = (await sdk.brain.list_sync_runs(draft.id, page_size=1)).items
    assert [(r.sync_run_id, r.status, r.trigger) for r in runs] == [(queued.sync_run_id, "queued", "manual")]
    fake_time.now += 5
    assert (await sdk.brain.list_sync_runs(draft.id, page_size=1)).items[0].status == "succeeded"
    assert (await sdk.brain.delete_file(draft.id, files[0].id)).deleted
    assert (await sdk.brain.list_files(draft.id)).files == []
    uploads = ["direct_file_uploads"]
    assert (await sdk.brain.search("carried over march", source_type=uploads)).results == []  # file deleted
    assert (await sdk.brain.delete_source(draft.id)).deleted
    with pytest.raises(GumloopError):
        await sdk.brain.get_source(draft.id)


async def test_model_routing_decisions_and_the_wiki(sdk: AsyncGumloop) -> None:
    """Routing picks a lane from the task, decisions answer every question, the wiki filters cards."""
    quick = await sdk.models.route(input="Summarise this email")
    assert quick.route.lane == "fast" and quick.route.model in {c.model for c in quick.candidates}
    deep = await sdk.models.route(input="Prove the scheduler never starves", models=["openai/gpt-4.1"])
    assert (deep.route.lane, deep.route.model, deep.route.reasoning_effort) == (
        "deep",
        "openai/gpt-4.1",
        "high",
    )
    decision = await sdk.decisions.create(
        model="anthropic/claude-sonnet-4",
        state="The customer wants a refund for a duplicate charge.",
        questions={
            "topic": {
                "type": "choice",
                "instructions": "Which topic?",
                "criteria": {"refund": None, "bug": None},
            },
            "urgent": {"type": "noul", "instructions": "Does the customer want a refund?"},
            "severity": {
                "type": "score",
                "instructions": "How bad?",
                "criteria": ["minor", "duplicate charge"],
            },
        },
    )
    topic, urgent, severity = (decision.answers[k] for k in ("topic", "urgent", "severity"))
    assert topic.type == "choice" and topic.choice == "refund"
    assert urgent.type == "noul" and urgent.noul == 1.0
    assert severity.type == "score" and severity.score == 1.0
    assert decision.usage.output_tokens > 0
    cards = (await sdk.wiki.query(type="project")).cards
    assert [c.entity_key for c in cards] == ["onboarding-revamp"] and cards[0].facts
    assert len((await sdk.wiki.query()).cards) == 4


async def test_organization_evaluations_target_run_and_grade(
    emulator: RunningEmulator, sdk: AsyncGumloop, fake_time: FakeTime
) -> None:
    """Created disabled; enabling needs targets; a run grades covered sessions and skips the rest."""
    org = (await sdk.organizations.list()).organizations
    assert [o.id for o in org] == [emulator.settings.organization_id]
    options = await sdk.evaluations.options()
    assert "organization" in options.target_types and options.limits["run_sessions"] == 200
    created = (await sdk.evaluations.create(organization_id=org[0].id, name="Support quality")).evaluation
    assert not created.enabled and created.config.frequency == "debounced"
    with pytest.raises(GumloopError):
        await sdk.evaluations.update(created.id, enabled=True)
    targets = await sdk.evaluations.set_targets(created.id, [{"type": "agent", "id": "agent_support"}])
    assert targets.covered_agent_count == 1 and not targets.enabled
    updated = (
        await sdk.evaluations.update(created.id, enabled=True, config={"criteria": [{"name": "Polite"}]})
    ).evaluation
    assert updated.enabled and updated.config.criteria == [{"name": "Polite"}]
    assert [e.id for e in (await sdk.evaluations.list(org[0].id)).evaluations] == [created.id]

    session = (await sdk.sessions.create("agent_support", input="Hello")).session
    other = (await sdk.sessions.create("agent_research", input="Hello")).session
    fake_time.now += 10
    priced = await sdk.evaluations.run(created.id, [session.id, other.id, "sess_missing"], dry_run=True)
    assert priced.dry_run and priced.credit_cost == 1 and [r.id for r in priced.results] == [None]
    assert {s.session_id: s.reason for s in priced.skipped} == {
        other.id: "agent_not_covered",
        "sess_missing": "session_not_found",
    }
    run = await sdk.evaluations.run(created.id, session.id)
    result_id = run.results[0].id
    assert result_id and run.results[0].status == "queued"
    again = await sdk.evaluations.run(created.id, session.id)
    assert [(s.reason, s.result_id) for s in again.skipped] == [("already_evaluated", result_id)]
    fake_time.now += 5
    result = (await sdk.evaluations.get_result(created.id, result_id)).result
    assert (result.status, result.grade, result.agent_id) == ("completed", "pass", "agent_support")
    assert result.criteria_results == [{"criterion": "Polite", "passed": True}]
    listed = await sdk.evaluations.list_results(created.id, grade="pass", agent_id="agent_support")
    assert [r.id for r in listed.results] == [result_id]
    assert (await sdk.evaluations.metrics(created.id, days=7)).grades["pass"] == 1
    paused = await sdk.evaluations.set_targets(created.id, [])
    assert not paused.enabled and paused.covered_agent_count == 0
    await sdk.evaluations.delete(created.id)
    with pytest.raises(GumloopError):
        await sdk.evaluations.retrieve(created.id)


async def test_browser_profiles_keep_counts_never_cookie_values(sdk: AsyncGumloop, answers: Answers) -> None:
    """Profiles are created, renamed, made default and deleted; imported cookies come back as counts
    per site, and no answer carries a cookie value."""
    secret = "session-secret-value-123"
    default = await sdk.browser_profiles.get("default")
    assert default.is_default
    work = await sdk.browser_profiles.create("Work")
    assert not work.is_default and work.sites == []
    cookies = [
        {
            "name": "sid",
            "value": secret,
            "domain": ".github.com",
            "path": "/",
            "secure": True,
            "httpOnly": True,
        },
        {"name": "pref", "value": "dark", "domain": "gist.github.com", "path": "/"},
        {"name": "other", "value": "x", "domain": "example.org", "path": "/"},
    ]
    imported = await sdk.browser_profiles.import_cookies(
        work.profile_id, url="https://github.com", cookies=cookies
    )
    assert (imported.imported.cookie_count, imported.imported.skipped) == (2, 1)
    assert imported.imported.sites == ["gist.github.com", "github.com"] and imported.profile.version == 1
    renamed = await sdk.browser_profiles.update(work.profile_id, name="Work laptop", is_default=True)
    assert renamed.name == "Work laptop" and renamed.is_default
    listed = (await sdk.browser_profiles.list()).profiles
    assert [p.profile_id for p in listed if p.is_default] == [work.profile_id]
    assert (await sdk.browser_profiles.delete(default.profile_id)).status == "success"
    assert [p.profile_id for p in (await sdk.browser_profiles.list()).profiles] == [work.profile_id]
    assert all(secret not in str(a.body) for a in answers.items)
