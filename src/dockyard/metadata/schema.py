"""The tables. Changes to them are Alembic migrations; a test checks the two agree."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Digests are kept as text ("sha256:<hex>"): 71 or 135 characters.
DIGEST = String(160)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("uid", String(36), nullable=True),
    Column("display_name", String(255), nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("created_at", Float, nullable=False),
)

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    # The image stream side of a repository (Kubernetes object fields).
    Column("uid", String(36), nullable=True),
    Column("generation", BigInteger, nullable=False, server_default="1"),
    Column("resource_version", BigInteger, nullable=False, server_default="0"),
    Column("labels", JSON, nullable=True),
    Column("annotations", JSON, nullable=True),
    Column("spec", JSON, nullable=True),
)

blobs = Table(
    "blobs",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
)

repository_blobs = Table(
    "repository_blobs",
    metadata,
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("digest", DIGEST, ForeignKey("blobs.digest"), primary_key=True),
    Column("created_at", Float, nullable=False),
    Index(None, "digest"),
)

images = Table(
    "images",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("media_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("config_digest", DIGEST, nullable=True),
    Column("artifact_type", String(255), nullable=True),
    Column("subject_digest", DIGEST, nullable=True),
    Column("annotations", JSON, nullable=False),
    Column("managed", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "subject_digest"),
)

# What a manifest points at: config and layers (blobs) or child manifests (indexes).
image_references = Table(
    "image_references",
    metadata,
    Column("image_digest", DIGEST, ForeignKey("images.digest"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("digest", DIGEST, nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("platform", JSON, nullable=True),
    Index(None, "digest"),
)

repository_images = Table(
    "repository_images",
    metadata,
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("image_digest", DIGEST, ForeignKey("images.digest"), primary_key=True),
    Column("created_at", Float, nullable=False),
    Index(None, "image_digest"),
)

tags = Table(
    "tags",
    metadata,
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(128), primary_key=True),
    Column("image_digest", DIGEST, ForeignKey("images.digest"), nullable=False),
    Column("updated_at", Float, nullable=False),
    Index(None, "image_digest"),
)

tag_events = Table(
    "tag_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False
    ),
    Column("tag", String(128), nullable=False),
    Column("image_digest", DIGEST, nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "repository_id", "tag", "id"),
)

# The append-only change log: its id is the global resourceVersion.
changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("namespace", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("action", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Identities. Service accounts are users named system:serviceaccount:<namespace>:<name>.
users = Table(
    "users",
    metadata,
    Column("name", String(253), primary_key=True),
    Column("uid", String(36), nullable=False, unique=True),
    Column("full_name", String(255), nullable=False),
    Column("password_hash", String(128), nullable=True),
    Column("namespace", String(255), nullable=True),
    Column("created_at", Float, nullable=False),
    Index(None, "namespace"),
)

groups = Table(
    "groups",
    metadata,
    Column("name", String(253), primary_key=True),
    Column("uid", String(36), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column(
        "group_name",
        String(253),
        ForeignKey("groups.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_name", String(253), primary_key=True),
    Index(None, "user_name"),
)

# API tokens, stored only as their SHA-256.
tokens = Table(
    "tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("user_name", String(253), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Index(None, "user_name"),
    Index(None, "revoked_at"),
)

# Role bindings; namespace "" holds the cluster role bindings.
role_bindings = Table(
    "role_bindings",
    metadata,
    Column("namespace", String(255), primary_key=True),
    Column("name", String(253), primary_key=True),
    Column("uid", String(36), nullable=False, unique=True),
    Column("role_kind", String(32), nullable=False),
    Column("role_name", String(253), nullable=False),
    Column("subjects", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Keys that sign registry bearer tokens; every worker and replica reads them from here.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("user_name", String(253), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", Float, nullable=False),
)

# Webhook delivery (dockyard.events): how far into the change log each endpoint has been sent.
notification_cursors = Table(
    "notification_cursors",
    metadata,
    Column("endpoint", String(255), primary_key=True),
    Column("last_change_id", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Named leases for work that one process of the cluster does at a time (a webhook's delivery).
leases = Table(
    "leases",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Config-like kinds (Config, ImagePruner, Secret, ConfigMap, ...) as whole JSON objects; namespace
# "" holds the cluster-scoped ones. Every change also appends to the change log.
resources = Table(
    "resources",
    metadata,
    Column("api_group", String(253), primary_key=True),
    Column("kind", String(63), primary_key=True),
    Column("namespace", String(255), primary_key=True),
    Column("name", String(253), primary_key=True),
    Column("uid", String(36), nullable=False, unique=True),
    Column("resource_version", BigInteger, nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)
