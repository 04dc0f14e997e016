"""Demo data: automations with run history, agents, sessions, skills, MCP servers, models, teams, brain
documents, evaluations and audit logs, shaped like Gumloop's answers.

Scenario 1 (a FAILED run created yesterday whose log explains the failure) and scenario 2 (a deployable
skill, an agent to attach it to, sessions producing artifacts), the founding scenarios the e2e tests
walk (tests/e2e/test_system.py), both start here.
"""

from __future__ import annotations

from gumloop_mcp.emulator import (
    agent_extras,
    agent_triggers,
    agent_versions,
    files,
    mcp_catalog,
    seed_knowledge,
)
from gumloop_mcp.emulator.store import Run, Session, Store, iso

DAY = 86400.0
CREATOR = {
    "id": "emu_user_1",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "profile_picture": None,
}


def seed(store: Store, now: float) -> None:
    """Fill ``store`` with the demo data, timestamps relative to ``now``."""
    _flows(store, now)
    _agents(store, now)
    agent_triggers.seed(store, now, "agent_support", "sess_agent_support_seed")
    agent_extras.seed_app_rules(store, "agent_support")
    _mcp(store)
    _misc(store, now)
    seed_knowledge.seed(store, now)


def _flows(store: Store, now: float) -> None:
    items = [
        (
            "si_lead_enrichment",
            "Lead enrichment",
            "Enrich new CRM leads with company data",
            ["company_domain", "lead_email"],
        ),
        ("si_weekly_report", "Weekly report", "Summarise weekly metrics into a PDF", ["week"]),
        (
            "si_invoice_parser",
            "Invoice parser",
            "Extract line items from uploaded invoices",
            ["invoice_file"],
        ),
    ]
    for sid, name, desc, inputs in items:
        store.saved_items[sid] = {
            "saved_item_id": sid,
            "name": name,
            "description": desc,
            "created_ts": iso(now - 30 * DAY),
            "_inputs": [
                {
                    "name": i,
                    "data_type": "file" if i.endswith("_file") else "string",
                    "description": f"The {i.replace('_', ' ')}",
                }
                for i in inputs
            ],
        }
    store.workbooks["wb_sales_ops"] = {
        "workbook_id": "wb_sales_ops",
        "name": "Sales ops",
        "description": "Automations for the sales team",
        "created_ts": iso(now - 40 * DAY),
        "saved_items": ["si_lead_enrichment", "si_weekly_report"],
    }
    store.workbooks["wb_finance"] = {
        "workbook_id": "wb_finance",
        "name": "Finance",
        "description": "Accounts payable",
        "created_ts": iso(now - 35 * DAY),
        "saved_items": ["si_invoice_parser"],
    }
    history = [
        ("run_lead_ok_1", "si_lead_enrichment", 3 * DAY, "DONE", None),
        ("run_lead_ok_2", "si_lead_enrichment", 2 * DAY, "DONE", None),
        (
            "run_lead_failed_yesterday",
            "si_lead_enrichment",
            DAY,
            "FAILED",
            "Node 'Enrich with Clearbit' failed: HTTP 401 Unauthorized from api.clearbit.com — "
            "the Clearbit API key "
            "in the credentials vault expired on the previous day; reconnect the Clearbit integration",
        ),
        ("run_report_ok_1", "si_weekly_report", 7 * DAY, "DONE", None),
        ("run_report_terminated", "si_weekly_report", 4 * DAY, "TERMINATED", None),
        (
            "run_invoice_failed",
            "si_invoice_parser",
            5 * DAY,
            "FAILED",
            "Node 'Extract PDF text' failed: file is encrypted",
        ),
    ]
    for run_id, sid, ago, state, reason in history:
        created = now - ago
        log = [
            f"Run {run_id} started for flow {store.saved_items[sid]['name']}",
            "Node 'Input' completed in 0.1s",
        ]
        if state == "FAILED" and reason:
            log += [f"ERROR {reason}", "Run failed after 1 node error"]
        elif state == "TERMINATED":
            log += ["Run terminated by user request"]
        else:
            log += ["Node 'Output' completed in 1.2s", "Run finished successfully"]
        outputs = {"output": "ok"} if state == "DONE" else {}
        store.runs[run_id] = Run(
            run_id, sid, store.user_id, state, created, {}, created + 42, None, log, outputs, reason
        )


def _agents(store: Store, now: float) -> None:
    agents = [
        ("agent_research", "Research assistant", "Researches companies and writes reports"),
        ("agent_support", "Support triage", "Triage incoming support tickets"),
    ]
    for index, (aid, name, desc) in enumerate(agents):
        store.agents[aid] = {
            "id": aid,
            "name": name,
            "description": desc,
            "team_id": store.team_id,
            "is_active": True,
            "model_name": "anthropic/claude-sonnet-4",
            "system_prompt": f"You are the {name.lower()}.",
            "tools": [{"type": "gumcp_server", "server_id": "gumloop_slack"}] if index == 1 else [],
            "resources": [],
            "skill_ids": [],
            "metadata": {},
            "folder_id": None,
            "type": "agent",
            "created_at": iso(now - (20 - index) * DAY),
            "active_trigger_count": index,
            "creator": CREATOR,
        }
        # v1 had a plainer prompt; v2 (deployed) is the agent as it is now.
        v1 = {**store.agents[aid], "system_prompt": "You are a helpful assistant."}
        agent_versions.record(store, v1, now - 9 * DAY, CREATOR, ident=f"ver_{aid}_1")
        agent_versions.record(store, store.agents[aid], now - 8 * DAY, CREATOR, ident=f"ver_{aid}_2")
        store.evaluations[aid] = [
            {
                "evaluation_id": f"eval_{aid}_{n}",
                "interaction_id": f"sess_{aid}_seed",
                "agent_id": aid,
                "created_ts": iso(now - n * DAY),
                "status": "completed",
                "grade": ["pass", "needs_review", "needs_attention"][n % 3],
                "call_successful": "success" if n % 3 == 0 else "unknown",
                "sentiment": ["positive", "neutral", "negative"][n % 3],
                "summary": f"Evaluation {n} of {name}",
                "criteria_results": [
                    {
                        "id": "c1",
                        "name": "Answered the question",
                        "type": "other",
                        "priority": "needs_review",
                        "result": "success" if n % 3 == 0 else "failure",
                        "rationale": "Compared answer with request",
                    }
                ],
                "data_results": [{"id": "d1", "name": "topic", "data_type": "string", "value": "billing"}],
                "applied_tags": ["billing"] if n % 2 else ["onboarding"],
            }
            for n in range(1, 6)
        ]
        store.evaluation_configs[aid] = {
            "agent_id": aid,
            "enabled": True,
            "is_active": True,
            "model_name": "anthropic/claude-sonnet-4",
            "frequency": "debounced",
            "language": "en",
            "include_auto_tags": True,
            "interaction_types": ["api", "web"],
            "criteria": [],
            "tags": [
                {"name": "billing", "description": "Questions about invoices and payments"},
                {"name": "onboarding", "description": "Getting started with the product"},
            ],
            "data_points": [],
            "sentiment": {"enabled": True, "affects_grade": False, "description": ""},
            "updated_ts": iso(now - DAY),
        }
        sid = f"sess_{aid}_seed"
        session = Session(sid, aid, f"Seed conversation with {name}", "completed", now - 2 * DAY)
        session.messages = [
            {
                "id": f"msg_{sid}_1",
                "role": "user",
                "content": "Summarise last week's pipeline",
                "created_at": iso(now - 2 * DAY),
                "creator_id": store.user_id,
                "parts": None,
            },
            {
                "id": f"msg_{sid}_2",
                "role": "assistant",
                "content": "Pipeline grew 12% week over week.",
                "created_at": iso(now - 2 * DAY + 30),
                "creator_id": None,
                "parts": None,
            },
        ]
        store.sessions[sid] = session
        for filename, media_type, data in files.artifact_set(f"{name} weekly summary"):
            store.add_artifact(aid, sid, filename, media_type, data, now - 2 * DAY + 30)
    store.skills["skill_csv_cleaner"] = {
        "id": "skill_csv_cleaner",
        "name": "csv-cleaner",
        "description": "Cleans and normalises CSV files",
        "team_id": store.team_id,
        "created_at": iso(now - 9 * DAY),
        "updated_at": iso(now - 9 * DAY),
        "metadata": {},
        "usage_count": 4,
        "view_count": 10,
        "last_used_at": iso(now - DAY),
        "version_id": "sv_csv_cleaner_1",
        "major_version": 1,
        "is_deployed": True,
        "version_created_at": iso(now - 9 * DAY),
        "creator": CREATOR,
        "_files": {
            "SKILL.md": b"---\nname: csv-cleaner\ndescription: Cleans and normalises CSV files\n---\n"
            b"Steps...\n"
        },
    }


def _mcp(store: Store) -> None:
    store.mcp_servers.update(mcp_catalog.catalog())


def _misc(store: Store, now: float) -> None:
    store.models = [
        {
            "provider": "anthropic",
            "name": "Anthropic",
            "models": [{"id": "anthropic/claude-sonnet-4", "name": "Claude Sonnet 4"}],
        },
        {
            "provider": "openai",
            "name": "OpenAI",
            "models": [
                {"id": "openai/gpt-4.1", "name": "GPT-4.1"},
                {"id": "openai/gpt-4o-mini", "name": "GPT-4o mini"},
            ],
        },
    ]
    store.teams = [{"id": store.team_id, "name": "Emulator team"}, {"id": "team_emu_2", "name": "Ops team"}]
    docs = [
        ("notion", "Onboarding handbook", "How new hires get laptops, accounts and their first tasks."),
        ("google_drive", "Q3 sales plan", "Targets per region and the lead enrichment process."),
        ("slack", "#incidents thread", "Clearbit key expired; lead enrichment failed until reconnected."),
        ("github", "README of gumloop-mcp", "Safe scoped control of Gumloop for agents."),
        ("confluence", "Invoice processing", "Encrypted PDFs must be decrypted before the invoice parser."),
    ]
    store.brain_docs = [
        {
            "document_id": f"doc_{n}",
            "source": src,
            "title": title,
            "content": content,
            "url": f"https://example.com/{src}/{n}",
            "updated_at": iso(now - n * DAY),
            "owner_name": "Ada Lovelace",
            "owner_email": "ada@example.com",
            "parent_title": None,
            "metadata": {},
        }
        for n, (src, title, content) in enumerate(docs, start=1)
    ]
    event_types = ["login", "create_agent", "run_flow", "update_skill", "invite_user"]
    store.audit_logs = [
        {
            "event_id": f"audit_{n}",
            "timestamp": iso(now - n * 3600),
            "event_type": event_types[n % 5],
            "user_id": store.user_id,
            "details": f"{event_types[n % 5]} on res_{n}",
            "source_ip": "127.0.0.1",
            "user_agent": "Mozilla/5.0 (emulator)",
        }
        for n in range(1, 61)
    ]
