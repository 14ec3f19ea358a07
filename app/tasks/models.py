from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db

INIT, RUNNING, SUCCESS, FAILED, PARTIAL_SUCCESS = "INIT", "RUNNING", "SUCCESS", "FAILED", "PARTIAL_SUCCESS"
FINISHED = (SUCCESS, FAILED, PARTIAL_SUCCESS)
EXPAND, SHRINK = "EXPAND", "SHRINK"


class Task(db.Model):
    """One scaling request. `lock_cluster_id` is the cluster id while the task is unfinished and
    NULL after: its unique index makes "one scaling task per cluster" atomic in any database."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_org_id_id", "org_id", "id"),
                      Index("ix_tasks_status_heartbeat", "status", "heartbeat_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    lock_cluster_id: Mapped[int | None] = mapped_column(Integer, unique=True, nullable=True)
    task_name: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=INIT)
    count: Mapped[int] = mapped_column(Integer)
    ips = mapped_column(JSON, nullable=True)
    before_count: Mapped[int] = mapped_column(Integer, default=0)
    expect_count: Mapped[int] = mapped_column(Integer, default=0)
    after_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    success_num: Mapped[int] = mapped_column(Integer, default=0)
    fail_num: Mapped[int] = mapped_column(Integer, default=0)
    fail_reason: Mapped[str] = mapped_column(Text, default="")
    create_by: Mapped[str] = mapped_column(String(64), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at = mapped_column(UTCDateTime, nullable=True)
    finished_at = mapped_column(UTCDateTime, nullable=True)
    holder: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at = mapped_column(UTCDateTime, nullable=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    # A durable cancel request (task/cancel); the engine checks it between batches.
    cancel_requested_at = mapped_column(UTCDateTime, nullable=True)
    cancel_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What an operator sees while the task runs (task/describe): the latest cloud error, why the
    # task is waiting (a cloud outage) or None, and when it last made progress.
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    waiting_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_progress_at = mapped_column(UTCDateTime, nullable=True)


class TaskBatch(db.Model):
    """One cloud call's worth of a task, written before the cloud is called. Its client token
    is derived from (task, index), so a replay never creates a second set of machines."""

    __tablename__ = "task_batches"
    __table_args__ = (UniqueConstraint("task_id", "idx", name="uq_batch_task_idx"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    client_token: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="PENDING")
    instance_ids = mapped_column(JSON, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    # When the create call was first sent (a lower bound of the cloud's accept time; survives a crash).
    requested_at = mapped_column(UTCDateTime, nullable=True)
    placement = mapped_column(JSON, nullable=True)  # zone/subnet/type/spot when not the cluster's own (placement.py)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class ReconcileMark(db.Model):
    """Evidence for a destructive reconciler decision, kept across passes and restarts: a machine
    is deleted (or its row marked deleted) only when a later pass sees the same thing again."""

    __tablename__ = "reconcile_marks"
    __table_args__ = (UniqueConstraint("cluster_id", "instance_id", "kind", name="uq_mark_cluster_instance_kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(Integer, index=True)
    instance_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # unknown / zombie / gone
    first_seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class IdempotencyKey(db.Model):
    """An `Idempotency-Key` header of cluster/expand or cluster/shrink: the same key (within an
    organisation) answers with the task the first request started."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("org_id", "key", name="uq_idempotency_org_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    key: Mapped[str] = mapped_column(String(128))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    action: Mapped[str] = mapped_column(String(16))
    cluster_id: Mapped[int] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
