"""Configuration of the bundled Gumloop emulator (env prefix ``GMCP_EMULATOR_``).

Concurrency (plans.py): ``GMCP_EMULATOR_PLAN`` = ``free`` | ``pro`` | ``enterprise`` gives Gumloop's limits
(workflow runs 2/5/15, agent interactions 5/25/100, org-wide); Free/Pro answer 429 at the limit, Enterprise
queues (runs ``QUEUED``, sessions ``queued`` with ``queue_position``). Unset: the historical single pool of
3 shared by runs and agent interactions, refusing with 429. ``GMCP_EMULATOR_MAX_CONCURRENT_RUNS`` when set
replaces the numbers by one shared pool of that size (the plan still chooses 429 or queueing).
"""

from __future__ import annotations

import secrets

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gumloop_mcp.emulator.plans import Plan


class EmulatorSettings(BaseSettings):
    """Where the emulator listens, whom it accepts, which plan it emulates and how fast its runs move."""

    model_config = SettingsConfigDict(env_prefix="GMCP_EMULATOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8090
    api_key: str = "gl-emulator-key"
    user_id: str = "emu_user_1"
    team_id: str = "team_emu_1"
    organization_id: str = "org_emu_1"
    oauth_tokens: list[str] = Field(default_factory=lambda: ["gl-emulator-oauth-token"])
    # Tokens issued by /oauth/token (routes_oauth.py): access-token lifetime on the emulator's clock, and
    # whether /oauth/authorize approves at once (redirecting back with the code) or shows a consent form.
    oauth_access_token_ttl_s: float = Field(default=3600.0, gt=0)
    oauth_auto_approve: bool = True
    time_scale: float = Field(default=1.0, ge=0.0)
    plan: Plan | None = None
    max_concurrent_runs: int | None = Field(default=None, ge=1)
    signed_url_ttl_s: int = Field(default=300, ge=1)
    signing_key: str = Field(default_factory=lambda: secrets.token_hex(32))
    seed: bool = True
    public_base_url: str | None = None
    max_skill_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"

    @field_validator("plan", mode="before")
    @classmethod
    def _plan_lowercase(cls, value: object) -> object:
        """Accept ``Enterprise`` as well as ``enterprise``; an empty value means no plan."""
        if isinstance(value, str):
            return value.strip().lower() or None
        return value
