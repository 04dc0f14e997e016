"""Configuration of the bundled Gumloop emulator (env prefix ``GMCP_EMULATOR_``)."""

from __future__ import annotations

import secrets

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EmulatorSettings(BaseSettings):
    """Where the emulator listens, whom it accepts and how fast its runs move."""

    model_config = SettingsConfigDict(env_prefix="GMCP_EMULATOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8090
    api_key: str = "gl-emulator-key"
    user_id: str = "emu_user_1"
    team_id: str = "team_emu_1"
    organization_id: str = "org_emu_1"
    oauth_tokens: list[str] = Field(default_factory=lambda: ["gl-emulator-oauth-token"])
    time_scale: float = Field(default=1.0, ge=0.0)
    max_concurrent_runs: int = Field(default=3, ge=1)
    signed_url_ttl_s: int = Field(default=300, ge=1)
    signing_key: str = Field(default_factory=lambda: secrets.token_hex(32))
    seed: bool = True
    public_base_url: str | None = None
    max_skill_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"
