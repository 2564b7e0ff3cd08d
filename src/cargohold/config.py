"""Typed settings, read once: `CARGOHOLD_*` environment variables over an optional TOML file."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

GiB = 1024**3
MiB = 1024**2
KiB = 1024

CONFIG_ENV = "CARGOHOLD_CONFIG"

# Signature algorithms an ID token may use: asymmetric only (a shared-secret HS* token could
# be forged with the issuer's public key, and `none` is no signature at all).
OIDC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


def default_workers() -> int:
    """One worker per core this process may run on (its CPU affinity), at most 64."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 64))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARGOHOLD_", extra="forbid")

    data_dir: Path = Path("./cargohold-data")
    database_url: str | None = Field(
        default=None, description="Defaults to an SQLite file in the data dir."
    )
    storage: Literal["filesystem", "memory", "s3"] = "filesystem"
    auth: Literal["token", "none"] = Field(
        default="token",
        description="token: accounts, roles and API tokens; none: loopback-only development mode.",
    )
    token_service: str = "cargohold"
    token_issuer: str = "cargohold"
    public_url: str | None = Field(
        default=None,
        description="How clients reach the registry (https://registry.example.com): the token"
        " realm names it. Unset: the Host a client used, on loopback only.",
    )
    token_max_scopes: int = Field(
        default=64, ge=1, description="Most scopes one /token request may ask for."
    )
    token_lifetime: int = Field(default=300, ge=10, description="Registry JWT lifetime, seconds.")
    refresh_token_lifetime: int = Field(default=30 * 86400, ge=60)
    token_max_days: int = Field(default=365, ge=1, description="Longest API token expiry.")
    allow_tokens_without_expiry: bool = False
    password_login: bool = Field(
        default=True, description="Accept email + password at /token and in the UI."
    )
    login_max_failures: int = Field(
        default=10,
        ge=1,
        description="Wrong passwords for one account from one address before that pair is"
        " blocked (tokens are never blocked).",
    )
    login_failure_window: int = Field(
        default=900, ge=1, description="Seconds a count of password attempts lasts."
    )
    login_block_seconds: int = Field(
        default=300, ge=1, description="First block of an account and address, seconds."
    )
    login_block_max_seconds: int = Field(
        default=3600,
        ge=1,
        description="Longest block: each failure after a block doubles it, up to this.",
    )
    login_address_max_attempts: int = Field(
        default=300,
        ge=1,
        description="Password logins (right or wrong, any account) from one address per"
        " login_failure_window.",
    )
    password_check_threads: int = Field(
        default=2, ge=1, description="Password (argon2) checks running at once per process."
    )
    password_check_queue: int = Field(
        default=16,
        ge=0,
        description="Password checks that may wait for a thread; beyond them, 503 at once.",
    )
    signing_key_file: Path | None = Field(
        default=None, description="Ed25519 PEM key; made in the data dir on first start if unset."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    workers: int = Field(
        default_factory=default_workers,
        ge=1,
        le=64,
        description="Worker processes; unset, one per core this process may run on.",
    )
    allow_insecure_bind: bool = Field(
        default=False,
        description="Let auth=none listen on a non-loopback address (development only).",
    )
    access_log: bool | None = Field(
        default=None,
        description="Log one line per request; unset: on when log_format is json, else off.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text lines, or one JSON object per line."
    )
    metrics_address: str = Field(
        default="",
        description="HOST:PORT serving Prometheus /metrics, apart from the registry; empty: off.",
    )
    metrics_token: str | None = Field(
        default=None,
        min_length=16,
        description="Also serve /metrics on the registry's own listener, to this bearer token.",
    )
    shutdown_timeout: int = Field(
        default=25,
        ge=1,
        le=3600,
        description="Seconds a stopping server (SIGTERM) lets requests in flight finish.",
    )
    max_blob_size: int = Field(default=32 * GiB, ge=1)
    max_manifest_size: int = Field(default=4 * MiB, ge=1024)
    upload_idle_expiry: int = Field(default=24 * 3600, ge=1, description="Seconds.")
    upload_sweep_interval: int = Field(default=600, ge=1, description="Seconds.")
    page_size_max: int = Field(default=1000, ge=1)
    max_open_uploads: int = Field(
        default=100,
        ge=1,
        description="Upload sessions one user, access token or (auth = none) client address"
        " may have open at once.",
    )
    max_form_size: int = Field(
        default=64 * KiB,
        ge=1024,
        description="Largest body of /token, UI forms and any request that is neither a blob"
        " upload, a manifest nor an /api/v1 call.",
    )
    max_api_body_size: int = Field(
        default=1 * MiB, ge=1024, description="Largest body of an /api/v1 request."
    )
    # Lifecycle: garbage collection (and the retention policies it applies first).
    gc_enabled: bool = Field(default=True, description="Collect garbage in the background.")
    gc_interval: int = Field(
        default=6 * 3600, ge=1, description="Seconds between background collections."
    )
    gc_grace: int = Field(
        default=24 * 3600,
        ge=0,
        description="Seconds an unreferenced manifest, link or blob is kept before it goes.",
    )
    gc_delete_untagged: bool = Field(
        default=False,
        description="Also collect untagged images (by default they stay until deleted or a"
        " retention rule removes them).",
    )
    # Events: the audit log and download counts (docs/audit.md).
    audit_retention_days: int = Field(
        default=400,
        ge=0,
        description="Garbage collection deletes audit log entries older than this many days"
        " (0: keep them forever).",
    )
    audit_pulls: bool = Field(
        default=False,
        description="Record every manifest pull in the audit log too (pulls are always counted).",
    )
    download_flush_interval: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Seconds between writes of the pulls each process counted in memory.",
    )
    # Webhooks: delivery of events to endpoints that people register (docs/webhooks.md).
    webhook_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or CIDRs (comma-separated) that webhook targets may resolve to"
        " despite the guard against request forgery; plain http:// goes only to these.",
    )
    webhook_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds one delivery attempt may take."
    )
    webhook_retry_for: int = Field(
        default=24 * 3600,
        ge=0,
        description="Seconds a failing delivery is retried (timeouts, connection errors, 5xx,"
        " 408, 429), with exponential back-off and jitter.",
    )
    webhook_retry_initial: float = Field(
        default=10.0, gt=0, le=3600, description="Seconds before the first retry; doubles."
    )
    webhook_max_failures: int = Field(
        default=50,
        ge=1,
        description="Failed attempts in a row after which an endpoint is turned off.",
    )
    webhook_poll_interval: float = Field(
        default=1.0, gt=0, le=60, description="Seconds between looks for new events."
    )
    webhook_history_days: int = Field(
        default=30, ge=1, description="Days finished deliveries are kept for their history."
    )
    webhook_secret_key: str | None = Field(
        default=None,
        min_length=16,
        description="Key material that seals webhook secrets at rest; unset: derived from the"
        " signing key. Every node needs the same.",
    )
    # Push replication: copying every push of a package or workspace to a remote registry
    # (docs/replication.md). Plain http:// remotes are allowed on loopback addresses only,
    # unless mirror_allow_http (below, with the mirrors' settings).
    replication_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or CIDRs (comma-separated) that replication remotes may"
        " resolve to despite the guard against request forgery.",
    )
    replication_timeout: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="Seconds one request to a remote may take (a chunk of a blob included).",
    )
    replication_chunk_size: int = Field(
        default=16 * 1024 * 1024,
        ge=64 * 1024,
        le=1024 * 1024 * 1024,
        description="Blobs larger than this are sent in chunks of this many bytes.",
    )
    replication_retry_initial: float = Field(
        default=10.0, gt=0, le=3600, description="Seconds before the first retry; doubles."
    )
    replication_retry_max: float = Field(
        default=1800.0, gt=0, le=86400, description="The longest wait between two attempts."
    )
    replication_max_attempts: int = Field(
        default=20, ge=1, le=1000, description="Attempts after which a replication job fails."
    )
    replication_poll_interval: float = Field(
        default=1.0, gt=0, le=60, description="Seconds between looks for new pushes."
    )
    replication_history_days: int = Field(
        default=30, ge=1, description="Days finished replication jobs are kept."
    )
    # Mirrors: pull-through caches of upstream registries (docs/mirror.md).
    mirror_allow_http: bool = Field(
        default=False,
        description="Plain http:// to mirror upstreams and replication remotes beyond loopback"
        " addresses (their traffic and credentials then travel unencrypted).",
    )
    mirror_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or CIDRs (comma-separated) that mirror upstreams may resolve to"
        " despite the guard against request forgery (a registry on the local network).",
    )
    mirror_timeout: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Seconds a request to an upstream may take (a token, a manifest, a tag"
        " check; also the longest wait between two reads of a blob).",
    )
    mirror_blob_timeout: float = Field(
        default=3600.0,
        gt=0,
        description="Seconds fetching one blob from an upstream may take in all.",
    )
    mirror_tag_ttl: int = Field(
        default=300,
        ge=0,
        le=30 * 86400,
        description="Seconds a new mirror serves a cached tag before checking it upstream.",
    )
    docker_mirror: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]*/[a-z0-9]+(?:[._-][a-z0-9]+)*$",
        description="WS/PREFIX of the mirror that answers the Docker engine's"
        " registry-mirrors requests (/v2/library/NAME/..., /v2/NAME/...).",
    )
    trust_proxy_headers: bool = Field(
        default=False,
        description="Take scheme, host and client address from X-Forwarded-Proto/-Host/-For.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or CIDRs of the proxies in front (comma-separated): only they"
        " may send forwarded headers, and they are skipped in X-Forwarded-For.",
    )
    # OpenID Connect: keyless CI logins through trust policies, and single sign-on for
    # people (docs/access.md).
    oidc_allow_http_issuers: bool = Field(
        default=False,
        description="Allow http:// OpenID issuers (tests on loopback); https:// otherwise.",
    )
    oidc_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or CIDRs (comma-separated) that OpenID issuers may resolve to"
        " despite the guard against request forgery (loopback for tests).",
    )
    oidc_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(OIDC_ALGORITHMS),
        description="Signature algorithms accepted on ID tokens (never none, never HS*).",
    )
    oidc_clock_skew: int = Field(
        default=60, ge=0, le=300, description="Seconds of clock difference allowed."
    )
    oidc_max_token_age: int = Field(
        default=7200,
        ge=60,
        description="ID tokens issued (iat) longer ago than this many seconds are refused.",
    )
    oidc_keys_cache_seconds: int = Field(
        default=3600, ge=1, description="How long an issuer's discovery and keys are kept."
    )
    oidc_keys_refetch_interval: int = Field(
        default=60,
        ge=1,
        description="An unknown key id fetches an issuer's keys again at most this often.",
    )
    oidc_fetch_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds a discovery or key fetch may take."
    )
    oidc_max_document_size: int = Field(
        default=128 * 1024, ge=1024, description="Largest discovery, keys or token answer."
    )
    sso_issuer: str | None = Field(
        default=None, description="OpenID provider for people's sign-in to the web UI."
    )
    sso_client_id: str | None = None
    sso_client_secret: str | None = None
    sso_scopes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["openid", "email", "profile"],
        description="Scopes asked for at single sign-on.",
    )
    sso_allowed_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Email domains that may sign in with single sign-on; empty: any.",
    )
    sso_create_accounts: bool = Field(
        default=False,
        description="Make an account at a person's first single sign-on; off: only people"
        " whose account exists (invited) may sign in.",
    )
    sso_name: str = Field(
        default="", max_length=60, description="The provider's name on the sign-in button."
    )
    # Scale-out: PostgreSQL (database_url = postgresql://...) and an S3-compatible store.
    database_pool_size: int = Field(default=10, ge=1, description="Connections per process.")
    database_connect_timeout: float = Field(default=2.0, gt=0, description="Seconds.")
    database_command_timeout: float = Field(default=15.0, gt=0, description="Seconds.")
    s3_endpoint: str | None = Field(default=None, description="Defaults to AWS S3.")
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_path_style: bool = Field(default=False, description="Path-style URLs (MinIO, SeaweedFS).")
    s3_part_size: int = Field(default=8 * MiB, ge=5 * MiB, le=5 * GiB)
    s3_connect_timeout: float = Field(default=1.0, gt=0, description="Seconds.")
    s3_read_timeout: float = Field(default=30.0, gt=0, description="Seconds.")
    s3_retries: int = Field(default=1, ge=0, le=10, description="Retries of a failed request.")
    blob_redirect: bool = Field(
        default=False, description="Answer blob GETs with a redirect to a pre-signed store URL."
    )
    blob_redirect_min_size: int = Field(default=0, ge=0, description="Smaller blobs stream.")
    blob_redirect_expiry: int = Field(default=600, ge=10, le=7 * 86400, description="Seconds.")
    blob_accel_redirect: str | None = Field(
        default=None,
        description="URL path prefix (/_cargohold_blobs/) of a front nginx's internal location"
        " over the filesystem store: blob GETs answer with X-Accel-Redirect, no body.",
    )
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain: serve HTTPS.")
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert.")

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"public_url must be http(s)://HOST[:PORT], as clients reach the registry,"
                f" not {value[:100]!r}"
            )
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError("public_url is the registry's root URL: no path, query or fragment")
        return value.rstrip("/")

    @field_validator("blob_accel_redirect")
    @classmethod
    def _check_blob_accel_redirect(cls, value: str | None) -> str | None:
        if not value:
            return None
        if (
            not value.startswith("/")
            or not value.endswith("/")
            or "//" in value
            or any(segment in (".", "..") for segment in value.split("/"))
            or any(char in value for char in "?#%\\")
            or any(not char.isprintable() or char.isspace() for char in value)
        ):
            raise ValueError(
                "blob_accel_redirect must be a URL path that starts and ends with /"
                " (/_cargohold_blobs/), with no . or .. segment, query or fragment,"
                f" not {value[:100]!r}"
            )
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        """A comma-separated string (an environment variable), also in list brackets."""
        if isinstance(value, str):
            items = (item.strip().strip("'\"") for item in value.strip().strip("[]").split(","))
            return [item for item in items if item]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {item[:60]!r} is not an IP address or CIDR network"
                ) from None
        return value

    @field_validator("metrics_address")
    @classmethod
    def _check_metrics_address(cls, value: str) -> str:
        value = value.strip()
        if value:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"metrics_address must be HOST:PORT, not {value[:100]!r}")
        return value

    @field_validator(
        "oidc_allowed_networks",
        "mirror_allowed_networks",
        "webhook_allowed_networks",
        "replication_allowed_networks",
        "oidc_algorithms",
        "sso_scopes",
        "sso_allowed_domains",
        mode="before",
    )
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        """A comma-separated string (an environment variable), also in list brackets."""
        if isinstance(value, str):
            items = (item.strip().strip("'\"") for item in value.strip().strip("[]").split(","))
            return [item for item in items if item]
        return value

    @field_validator("oidc_algorithms")
    @classmethod
    def _check_oidc_algorithms(cls, value: list[str]) -> list[str]:
        for item in value:
            if item not in OIDC_ALGORITHMS:
                raise ValueError(
                    f"oidc_algorithms: {item[:20]!r} is not accepted; choose among"
                    f" {', '.join(OIDC_ALGORITHMS)} (never none or HS*)"
                )
        if not value:
            raise ValueError("oidc_algorithms needs at least one algorithm")
        return value

    @field_validator("sso_allowed_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [item.lower().lstrip("@") for item in value]

    @field_validator(
        "oidc_allowed_networks",
        "mirror_allowed_networks",
        "webhook_allowed_networks",
        "replication_allowed_networks",
    )
    @classmethod
    def _check_networks(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{info.field_name}: {item[:60]!r} is not an IP address or CIDR network"
                ) from None
        return value

    @model_validator(mode="after")
    def _check_scale_out(self) -> Settings:
        url = self.database_url
        if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("database_url must be sqlite:///PATH or postgresql://...")
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("storage = s3 needs s3_bucket")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self

    @model_validator(mode="after")
    def _check_sso(self) -> Settings:
        if self.sso_issuer is None:
            return self
        parts = urlsplit(self.sso_issuer)
        schemes = ("https", "http") if self.oidc_allow_http_issuers else ("https",)
        if parts.scheme not in schemes or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                "sso_issuer must be an https:// URL (http:// only with oidc_allow_http_issuers)"
            )
        if not self.sso_client_id:
            raise ValueError("sso_issuer needs sso_client_id")
        if "openid" not in self.sso_scopes:
            raise ValueError("sso_scopes must include openid")
        return self

    @property
    def sso_enabled(self) -> bool:
        return self.sso_issuer is not None

    @property
    def metrics_enabled(self) -> bool:
        """Metrics are recorded when something serves them."""
        return bool(self.metrics_address or self.metrics_token)

    @property
    def logs_requests(self) -> bool:
        """One log line per request: `access_log`, or by default with JSON logs."""
        return self.log_format == "json" if self.access_log is None else self.access_log

    @property
    def is_postgres(self) -> bool:
        return bool(self.database_url) and not str(self.database_url).startswith("sqlite:")

    @property
    def sqlite_path(self) -> Path:
        if self.database_url:
            if not self.database_url.startswith("sqlite:///"):
                raise ValueError("the database is not SQLite")
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
