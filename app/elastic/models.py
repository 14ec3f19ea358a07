"""Elastic clusters: the controller's lease, replaced machines, schedules, the capacity cache."""
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class ElasticLease(db.Model):
    """One named lease (the controller holds "controller"): a holder and when its claim lapses.
    Taken and renewed by a conditional UPDATE, so one process at a time holds it."""

    __tablename__ = "elastic_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128), nullable=True)
    expires_at = mapped_column(UTCDateTime, nullable=True)


class MachineReplacement(db.Model):
    """A machine self-healing found dead: when, why, and the task that replaced or removed it."""

    __tablename__ = "machine_replacements"
    __table_args__ = (Index("ix_replacements_cluster_at", "cluster_id", "detected_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    instance_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))  # vanished / stopped / unready
    detail: Mapped[str] = mapped_column(String(255), default="")
    detected_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class ScalingSchedule(db.Model):
    """A cron-style action on one cluster: at each matching minute (in `timezone`) set
    desired/min/max. `last_slot` (UTC minute) is claimed by a conditional UPDATE: fires once."""

    __tablename__ = "scaling_schedules"
    __table_args__ = (UniqueConstraint("cluster_id", "name", name="uq_schedule_cluster_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    cron: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    desired: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_slot = mapped_column(UTCDateTime, nullable=True)  # the last minute it fired (or was skipped)
    last_result: Mapped[str] = mapped_column(String(255), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class CapacityShortage(db.Model):
    """The insufficient-capacity cache: (account, region, zone, type, spot) out of stock until `until`."""

    __tablename__ = "capacity_shortages"
    __table_args__ = (UniqueConstraint("account_id", "region_id", "zone_id", "instance_type", "spot",
                                       name="uq_capacity_shortage"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("cloud_accounts.id"))
    region_id: Mapped[str] = mapped_column(String(64))
    zone_id: Mapped[str] = mapped_column(String(64))
    instance_type: Mapped[str] = mapped_column(String(64))
    spot: Mapped[bool] = mapped_column(Boolean, default=False)
    until = mapped_column(UTCDateTime, nullable=False)
    reason: Mapped[str] = mapped_column(String(255), default="")
