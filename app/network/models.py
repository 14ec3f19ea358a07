"""The local store of cloud network objects. Cloud ids are the natural keys: a row is one cloud
object seen by one organisation (`account_id` is the account that last created or synced it)."""
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class NetworkObject:
    """Columns every stored network object has."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("cloud_accounts.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    region_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)  # the cloud's, when it says


class Vpc(NetworkObject, db.Model):
    __tablename__ = "vpcs"
    __table_args__ = (UniqueConstraint("org_id", "provider", "vpc_id", name="uq_vpc"),
                      Index("ix_vpcs_org_region", "org_id", "provider", "region_id"))
    vpc_id: Mapped[str] = mapped_column(String(64))
    cidr_block: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(32), default="")


class Subnet(NetworkObject, db.Model):
    __tablename__ = "subnets"
    __table_args__ = (UniqueConstraint("org_id", "provider", "subnet_id", name="uq_subnet"),
                      Index("ix_subnets_org_vpc", "org_id", "vpc_id"))
    subnet_id: Mapped[str] = mapped_column(String(64))
    vpc_id: Mapped[str] = mapped_column(String(64))
    zone_id: Mapped[str] = mapped_column(String(64), default="")
    cidr_block: Mapped[str] = mapped_column(String(64), default="")
    gateway_ip: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(32), default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    available_ip_count: Mapped[int] = mapped_column(Integer, default=0)


class SecurityGroup(NetworkObject, db.Model):
    __tablename__ = "security_groups"
    __table_args__ = (UniqueConstraint("org_id", "provider", "group_id", name="uq_security_group"),
                      Index("ix_security_groups_org_vpc", "org_id", "vpc_id"))
    group_id: Mapped[str] = mapped_column(String(64))
    vpc_id: Mapped[str] = mapped_column(String(64), default="")
    group_type: Mapped[str] = mapped_column(String(32), default="normal")


class SecurityGroupRule(db.Model):
    __tablename__ = "security_group_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_pk: Mapped[int] = mapped_column(ForeignKey("security_groups.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(16))
    port_range: Mapped[str] = mapped_column(String(32), default="")
    direction: Mapped[str] = mapped_column(String(16))
    peer_group_id: Mapped[str] = mapped_column(String(64), default="")
    cidr_ip: Mapped[str] = mapped_column(String(64), default="")
    prefix_list_id: Mapped[str] = mapped_column(String(64), default="")
