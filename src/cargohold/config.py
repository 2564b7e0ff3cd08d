"""Typed settings, read once: `CARGOHOLD_*` environment variables over an optional TOML file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

GiB = 1024**3
MiB = 1024**2

CONFIG_ENV = "CARGOHOLD_CONFIG"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARGOHOLD_", extra="forbid")

    data_dir: Path = Path("./cargohold-data")
    database_url: str | None = Field(
        default=None, description="Defaults to an SQLite file in the data dir."
    )
    storage: Literal["filesystem", "memory"] = "filesystem"
    auth: Literal["token", "none"] = Field(
        default="token",
        description="token: accounts, roles and API tokens; none: loopback-only development mode.",
    )
    token_service: str = "cargohold"
    token_issuer: str = "cargohold"
    token_lifetime: int = Field(default=300, ge=10, description="Registry JWT lifetime, seconds.")
    refresh_token_lifetime: int = Field(default=30 * 86400, ge=60)
    token_max_days: int = Field(default=365, ge=1, description="Longest API token expiry.")
    allow_tokens_without_expiry: bool = False
    password_login: bool = Field(
        default=True, description="Accept email + password at /token and in the UI."
    )
    login_max_failures: int = Field(default=10, ge=1)
    login_failure_window: int = Field(default=900, ge=1, description="Seconds.")
    login_block_seconds: int = Field(default=300, ge=1)
    signing_key_file: Path | None = Field(
        default=None, description="Ed25519 PEM key; made in the data dir on first start if unset."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    allow_insecure_bind: bool = Field(
        default=False,
        description="Let auth=none listen on a non-loopback address (development only).",
    )
    access_log: bool = False
    max_blob_size: int = Field(default=32 * GiB, ge=1)
    max_manifest_size: int = Field(default=4 * MiB, ge=1024)
    upload_idle_expiry: int = Field(default=24 * 3600, ge=1, description="Seconds.")
    upload_sweep_interval: int = Field(default=600, ge=1, description="Seconds.")
    page_size_max: int = Field(default=1000, ge=1)
    trust_proxy_headers: bool = False

    @property
    def sqlite_path(self) -> Path:
        if self.database_url:
            if not self.database_url.startswith("sqlite:///"):
                raise ValueError("only sqlite:///PATH database URLs are supported so far")
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "cargohold.db"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "storage"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from (in order of precedence) overrides, environment, the TOML file."""
    if config_file is not None:
        if not config_file.is_file():
            raise FileNotFoundError(f"config file {config_file} does not exist")
        os.environ[CONFIG_ENV] = str(config_file)
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
