from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db

STANDARD, CUSTOM = "standard", "custom"  # BridgX's cluster types: a template we scale / existing machines


class Cluster(db.Model):
    """A cluster template. `deleted_id` is 0 while live, the row id once deleted (names are
    unique per organisation among live clusters; tasks and bills keep pointing at old rows)."""

    __tablename__ = "clusters"
    __table_args__ = (UniqueConstraint("org_id", "name", "deleted_id", name="uq_cluster_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # None for a custom cluster of existing machines that names no account (PrivateCloud)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("cloud_accounts.id"), index=True, nullable=True)
    cluster_type: Mapped[str] = mapped_column(String(16), default=STANDARD, server_default=STANDARD)
    name: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(32))
    region_id: Mapped[str] = mapped_column(String(64))
    zone_id: Mapped[str] = mapped_column(String(64))
    instance_type: Mapped[str] = mapped_column(String(64))
    image: Mapped[str] = mapped_column(String(255))
    network_config = mapped_column(JSON, nullable=False)
    charge_config = mapped_column(JSON, nullable=False)
    disks = mapped_column(JSON, nullable=False)
    password_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    desc: Mapped[str] = mapped_column(String(512), default="")
    tags = mapped_column(JSON, nullable=True)
    create_by: Mapped[str] = mapped_column(String(64), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
    deleted_id: Mapped[int] = mapped_column(Integer, default=0)
    # BridgX's fields beside the manual's: `standard` (a template) or `custom` (existing machines)
    cluster_type: Mapped[str] = mapped_column(String(16), default="standard", server_default="standard")
    image_config = mapped_column(JSON, nullable=True)  # {id, name, type, platform, size}
    extend_config = mapped_column(JSON, nullable=True)  # {core, memory, cpu_type}
    storage_options = mapped_column(JSON, nullable=True)  # storage_config beside its disks: {mount_point, nas}
    update_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # Elastic clusters (app/elastic): `desired` NULL means nobody keeps the size; `elastic` holds
    # the policy (termination, healing, fallback placements, spot).
    desired: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    elastic = mapped_column(JSON, nullable=True)
