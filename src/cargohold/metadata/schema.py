"""Table definitions: the single source of the schema (Alembic migrates to it).

Times are seconds since the epoch (float), which every backend stores the same way.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.types import TypeEngine


def sorted_name(length: int) -> TypeEngine[str]:
    """A string that sorts bytewise everywhere: SQLite's default, the C collation on
    PostgreSQL (whose default follows the server's locale). Tag and catalog pages rely on it."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


MAX_ID = 2**31 - 1
"""The largest key an `Integer` id column holds on every backend (PostgreSQL's int4)."""
MAX_BIG_ID = 2**63 - 1
"""The largest key a `BigInteger` id column (events, deliveries) holds."""


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

packages = Table(
    "packages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", sorted_name(255), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
)

blobs = Table(
    "blobs",
    metadata,
    Column("digest", String(150), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Double, nullable=False),
)

package_blobs = Table(
    "package_blobs",
    metadata,
    Column("package_id", Integer, ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(150), ForeignKey("blobs.digest"), primary_key=True),
    Column("created_at", Double, nullable=False),
    Index("ix_package_blobs_digest", "digest"),  # who links a blob (revision 0004)
)

manifests = Table(
    "manifests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("package_id", Integer, ForeignKey("packages.id", ondelete="CASCADE"), nullable=False),
    Column("digest", sorted_name(150), nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("artifact_type", String(255)),
    Column("subject_digest", String(150)),
    Column("annotations", Text),
    Column("created_at", Double, nullable=False),
    # Set once an index in the package names this manifest: from then on it lives only as
    # long as something reachable names it (revision 0004).
    Column("is_child", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("package_id", "digest"),
    Index("ix_manifests_subject", "package_id", "subject_digest"),
)

manifest_references = Table(
    "manifest_references",
    metadata,
    Column(
        "manifest_id",
        Integer,
        ForeignKey("manifests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("digest", String(150), primary_key=True),
    Column("kind", String(16), primary_key=True),
)

tags = Table(
    "tags",
    metadata,
    Column("package_id", Integer, ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True),
    Column("name", sorted_name(128), primary_key=True),
    Column("manifest_id", Integer, ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("pushed_by", String(320)),  # who last moved the tag (revision 0003)
    Index("ix_tags_manifest", "manifest_id"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("package_name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    # Revision 0006: who opened the session (`user:ID`, `robot:ID` or `address:IP`), for the
    # cap on open sessions; None for a monolithic upload, which lives for one request.
    Column("opened_by", String(100)),
    Index("ix_uploads_updated", "updated_at"),
    Index("ix_uploads_opened_by", "opened_by", "updated_at"),
)

# Accounts and access (revision 0002). Roles are stored as integers: 1 read, 2 write, 3 admin.

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("password_hash", Text),
    Column("is_admin", Boolean, nullable=False),
    Column("created_at", Double, nullable=False),
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("create_on_push", Boolean, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("quota_bytes", BigInteger),  # revision 0004; None: no quota
)

workspace_members = Table(
    "workspace_members",
    metadata,
    Column(
        "workspace_id",
        Integer,
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("is_owner", Boolean, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    ),
    Column("key", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("workspace_id", "key"),
)

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    ),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("slug", String(128), nullable=False),
    Column("is_public", Boolean, nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("workspace_id", "slug"),
)

project_grants = Table(
    "project_grants",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", Integer, nullable=False),
)

repository_grants = Table(
    "repository_grants",
    metadata,
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", Integer, nullable=False),
)

package_links = Table(
    "package_links",
    metadata,
    Column("package_id", Integer, ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Index("ix_package_links_repository", "repository_id"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE")),
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE")),
    Column("workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE")),
    Column("name", String(100), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("expires_at", Double),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double),
    Column("revoked_at", Double),
    Index("ix_tokens_user", "user_id"),
)

# Sessions (revision 0005): sign-ins that outlive one request, each a row so that it can be
# ended. `web`: the UI's session cookie; `refresh`: a refresh token from /token. Made from a
# password (token_id None) or from an API or access token, whose life bounds theirs.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE")),
    Column("token_id", String(16), ForeignKey("tokens.id", ondelete="CASCADE")),
    Column("secret_hash", String(64), nullable=False),
    Column("client", String(200)),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double),
    Column("expires_at", Double, nullable=False),
    # Revision 0008: how a web session was signed in to: `sso` (OpenID Connect single
    # sign-on), which password_login = false does not end; None: a password or a token.
    Column("method", String(16)),
    Index("ix_sessions_user", "user_id"),
    Index("ix_sessions_token", "token_id"),
    Index("ix_sessions_expires", "expires_at"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_at", Double, nullable=False),
    Column("blocked_until", Double, nullable=False),
)

# Lifecycle (revision 0004): retention, tag protection, garbage collection.

retention_policies = Table(
    "retention_policies",
    metadata,
    Column("package_id", Integer, ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True),
    Column("keep_newest", Integer),
    Column("keep_pattern", String(500)),
    Column("untagged_days", Integer),
    Column("tag_days", Integer),
    Column("updated_at", Double, nullable=False),
    Column("updated_by", String(320)),
)

tag_protections = Table(
    "tag_protections",
    metadata,
    Column("package_id", Integer, ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True),
    Column("pattern", String(128), primary_key=True),
    Column("created_at", Double, nullable=False),
    Column("created_by", String(320)),
)

# A blob whose row garbage collection removed and whose bytes it is deleting: an upload of
# the same digest waits for the row to go before it publishes the bytes again.
blob_tombstones = Table(
    "blob_tombstones",
    metadata,
    Column("digest", String(150), primary_key=True),
    Column("since", Double, nullable=False),
)

# Leases: background work that one node at a time does (garbage collection).
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", Double, nullable=False),
)

# What each garbage collection did (the newest hundred are kept).
gc_runs = Table(
    "gc_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("holder", String(200), nullable=False),
    Column("started_at", Double, nullable=False),
    Column("finished_at", Double),
    Column("outcome", String(16), nullable=False),  # running, done, failed
    Column("report", Text),  # JSON: the counts and bytes
    Column("error", Text),
)

# Events (revision 0007): the outbox every change writes to in its own transaction (docs/
# audit.md). The audit log reads it, webhook delivery sends it; `id` only ever grows (on
# SQLite AUTOINCREMENT: an id is never used twice, even after the oldest rows are pruned).
events = Table(
    "events",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("at", Double, nullable=False),
    Column("action", String(64), nullable=False),  # e.g. manifest.pushed, member.added
    Column("outcome", String(16), nullable=False),  # ok, refused, failed
    Column("actor_kind", String(16), nullable=False),  # user, token, system, anonymous
    Column("actor_id", String(64)),
    Column("actor_name", String(320)),  # an email or a token's name, never a secret
    Column("client_address", String(64)),
    Column("request_id", String(128)),
    Column("workspace", String(64)),  # slug
    Column("package", String(255)),
    Column("repository", String(255)),  # WORKSPACE/REPO
    Column("tag", String(128)),
    Column("digest", String(150)),
    Column("target", Text),  # what was acted on, for people to read
    Column("data", Text),  # JSON: media type, size, from/to digests, ...
    Index("ix_events_workspace", "workspace", "id"),
    Index("ix_events_at", "at"),
    sqlite_autoincrement=True,
)

# Pulls (manifest GETs) per package, tag and day (revision 0007), counted in memory by each
# process and added here every few seconds. `tag` is '' for pulls by digest; `day` is the
# number of days since the epoch (UTC).
downloads = Table(
    "downloads",
    metadata,
    Column("package_id", Integer, ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(128), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("count", BigInteger, nullable=False),
)


# OpenID Connect (revision 0008). A trust policy lets ID tokens of one issuer and audience
# whose claims match its conditions log in to the registry as a robot with one role on one
# repository (or on every repository of the workspace), for at most `lifetime` seconds.
oidc_policies = Table(
    "oidc_policies",
    metadata,
    Column("id", String(16), primary_key=True),
    Column(
        "workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    ),
    # None: every repository of the workspace
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE")),
    Column("issuer", String(500), nullable=False),
    Column("audience", String(500), nullable=False),
    Column("claims", Text, nullable=False),  # JSON: {claim name: exact value or glob}
    Column("role", Integer, nullable=False),  # 1 read, 2 write, 3 admin
    Column("lifetime", Integer, nullable=False),  # seconds a registry token from it lives
    Column("created_at", Double, nullable=False),
    Column("created_by", String(320)),
    Index("ix_oidc_policies_issuer", "issuer"),
    Index("ix_oidc_policies_workspace", "workspace_id"),
)

# People who signed in with single sign-on: the provider's (issuer, subject) linked to an
# account, first by a verified email address.
sso_identities = Table(
    "sso_identities",
    metadata,
    Column("issuer", String(500), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double),
    Index("ix_sso_identities_user", "user_id"),
)

# Webhooks (revision 0009): endpoints that a workspace's owners (or a package's admins)
# register, and each delivery of an event to one of them (docs/webhooks.md). The secret is
# sealed (AES-GCM, services/sealing.py): it must sign, so it is not hashed.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    ),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),  # sealed; shown once, at creation
    Column("events", Text, nullable=False),  # comma-separated event types, `*` for all
    Column("packages", String(255), nullable=False),  # a glob of full package names; '' all
    Column("format", String(16), nullable=False),  # cargohold, cloudevents, distribution
    Column("active", Boolean, nullable=False),
    Column("disabled_reason", Text),  # why delivery turned it off
    Column("failures", Integer, nullable=False),  # failed attempts in a row
    Column("retry_at", Double),  # backing off until then, after a failed attempt
    Column("since_event", BigInteger, nullable=False),  # only events after this id
    Column("created_at", Double, nullable=False),
    Column("created_by", String(320)),
    Column("updated_at", Double, nullable=False),
    # The lease of the node delivering to this endpoint: one node at a time.
    Column("lease_holder", String(200)),
    Column("lease_until", Double),
    Index("ix_webhooks_workspace", "workspace_id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("webhook_id", Integer, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", BigInteger, nullable=False),  # events.id (pruned later; no key)
    Column("generation", Integer, nullable=False),  # 0 the delivery, n the nth redelivery
    Column("action", String(64), nullable=False),  # manifest.pushed, ..., ping
    Column("content_type", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # the body, the same on every attempt
    Column("state", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("next_attempt_at", Double),  # while pending
    Column("last_attempt_at", Double),
    Column("response_status", Integer),  # of the last attempt
    Column("duration_ms", Integer),
    Column("error", Text),
    UniqueConstraint("webhook_id", "event_id", "generation"),
    Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
)

# How far webhook delivery has read the events table: one row, `events`. Every event with
# an id up to `position` has been fanned out to the endpoints it matches.
webhook_cursors = Table(
    "webhook_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", Double, nullable=False),
)

# Push replication (revision 0011): rules that copy every push of a package, or of a whole
# workspace, to a remote registry, and one job per rule and pushed manifest
# (docs/replication.md). The remote's password is sealed (services/sealing.py).
replications = Table(
    "replications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    ),
    Column("package", String(255), nullable=False),  # a full package name; '' every package
    Column("url", Text, nullable=False),  # the remote registry: scheme, host, port
    Column("username", String(320)),
    Column("password", Text),  # sealed; never shown again
    Column("prefix", String(255), nullable=False),  # remote repository prefix; '' none
    Column("active", Boolean, nullable=False),
    Column("since_event", BigInteger, nullable=False),  # only pushes after this event
    Column("retry_at", Double),  # backing off until then, after a failed attempt
    Column("last_success_at", Double),
    Column("last_error", Text),
    Column("last_error_at", Double),
    Column("created_at", Double, nullable=False),
    Column("created_by", String(320)),
    Column("updated_at", Double, nullable=False),
    # The lease of the node copying this rule's jobs: one node at a time, in order.
    Column("lease_holder", String(200)),
    Column("lease_until", Double),
    Index("ix_replications_workspace", "workspace_id"),
)

replication_jobs = Table(
    "replication_jobs",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column(
        "replication_id",
        Integer,
        ForeignKey("replications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", BigInteger, nullable=False),  # the push (events.id; pruned later)
    Column("package", String(255), nullable=False),
    Column("tag", String(128)),  # the tag pushed; null for a push by digest
    Column("digest", String(150), nullable=False),
    Column("state", String(16), nullable=False),  # pending, done, failed
    Column("attempts", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("next_attempt_at", Double),  # while pending
    Column("last_attempt_at", Double),
    Column("finished_at", Double),
    Column("copied", Integer),  # manifests and blobs sent (those the remote had are not)
    Column("error", Text),  # of the last failed attempt
    UniqueConstraint("replication_id", "event_id"),
    Index("ix_replication_jobs_due", "state", "next_attempt_at"),
    Index("ix_replication_jobs_replication", "replication_id", "id"),
)

# How far replication has read the events table: one row, `events`.
replication_cursors = Table(
    "replication_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", Double, nullable=False),
)

# Mirrors (revision 0010): upstream registries a workspace caches as pull-through packages
# `WORKSPACE/PREFIX/NAME` (docs/mirror.md). The password is sealed (services/sealing.py): it
# must be sent, so it is not hashed. Mirrored packages link to `repository_id`.
mirrors = Table(
    "mirrors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    ),
    Column("prefix", String(64), nullable=False),
    Column("upstream", Text, nullable=False),
    Column("username", String(320)),
    Column("password", Text),  # sealed; never shown again
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("tag_ttl", Integer, nullable=False),  # seconds before a tag is checked upstream
    Column("created_at", Double, nullable=False),
    Column("created_by", String(320)),
    Column("updated_at", Double, nullable=False),
    UniqueConstraint("workspace_id", "prefix"),
)

# When each tag of a mirrored package was last fetched or checked upstream.
mirror_tags = Table(
    "mirror_tags",
    metadata,
    Column("package_id", Integer, ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", sorted_name(128), primary_key=True),
    Column("checked_at", Double, nullable=False),
)

# Revision 0012: invitations to set a password, made by a site admin for a person's new
# account. The link's secret is stored as a SHA-256 only; a link is used once (its row goes)
# and expires.
invitations = Table(
    "invitations",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("created_by", String(320)),
    Column("expires_at", Double, nullable=False),
    Index("ix_invitations_user", "user_id"),
)
