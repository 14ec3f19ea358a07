from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db

PENDING, RUNNING, DELETING, DELETED, FAILED = "Pending", "Running", "Deleting", "Deleted", "Failed"
LIVE = (PENDING, RUNNING, DELETING)


class Instance(db.Model):
    """One cloud machine. Billing spans [created_at, deleted_at or now): `created_at` is when the
    cloud accepted the create call, `deleted_at` when it accepted the delete call."""

    __tablename__ = "instances"
    __table_args__ = (
        UniqueConstraint("provider", "instance_id", name="uq_instance_provider_id"),
        Index("ix_instances_org_id_id", "org_id", "id"),
        # Inventory: newest first (created_at DESC, id DESC) within each filter.
        Index("ix_instances_cluster_status", "cluster_id", "status", "created_at"),
        Index("ix_instances_org_status", "org_id", "status", "created_at"),
        Index("ix_instances_org_created", "org_id", "created_at"),
        Index("ix_instances_cluster_created", "cluster_id", "created_at"),
        Index("ix_instances_account_created", "account_id", "created_at"),
        Index("ix_instances_org_instance_id", "org_id", "instance_id"),
        Index("ix_instances_ip_inner", "ip_inner"),
        Index("ix_instances_ip_outer", "ip_outer"),
        # Usage: the spans overlapping a day are the live ones plus those deleted after it
        # began; both are ranges of these covering indexes.
        Index("ix_instances_org_span", "org_id", "deleted_at", "created_at"),
        Index("ix_instances_cluster_span", "cluster_id", "deleted_at", "created_at"),
        # Usage export: the spans starting / ending on a day, every organisation, index-only.
        Index("ix_instances_created_span", "created_at", "deleted_at", "cluster_id", "instance_type"),
        Index("ix_instances_deleted_span", "deleted_at", "created_at", "cluster_id", "instance_type"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("cloud_accounts.id"))
    task_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    batch_idx: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delete_task_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    instance_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    region_id: Mapped[str] = mapped_column(String(64))
    zone_id: Mapped[str] = mapped_column(String(64))
    instance_type: Mapped[str] = mapped_column(String(64))
    image_id: Mapped[str] = mapped_column(String(255), default="")
    ip_inner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip_outer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    running_at = mapped_column(UTCDateTime, nullable=True)
    deleted_at = mapped_column(UTCDateTime, nullable=True)
    # The last time the reconciler saw the cloud running it: a machine that vanishes from the
    # cloud is billed until then, not until the pass that noticed.
    last_seen_at = mapped_column(UTCDateTime, nullable=True)
    protected: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # scale-in protection


def last_alive_at(row):
    """When a machine found gone from the cloud was last known alive (the latest of its created,
    running and last-seen times): where its billed span ends, not when we noticed."""
    return max(t for t in (row.created_at, row.running_at, row.last_seen_at) if t is not None)
