from sqlalchemy import Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class Organization(db.Model):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, nullable=True, onupdate=utcnow)


class User(db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # a disabled user cannot log in, and every token it holds stops working at once
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    create_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # Every JWT carries the epoch it was minted in; bumping it ends all of the user's sessions.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class ApiToken(db.Model):
    """A long-lived token for scripts; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at = mapped_column(UTCDateTime, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class OrgQuota(db.Model):
    """An operator's per-organisation override of the BRIDGX_QUOTA_* defaults (NULL = default)."""

    __tablename__ = "org_quotas"
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    max_live_instances: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_instances_per_task: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_tasks_in_flight: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class LoginThrottle(db.Model):
    """Failed logins per key (`user:NAME` or `addr:IP`) in the current window (embedded store)."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(191), primary_key=True)
    window_start = mapped_column(UTCDateTime, nullable=False)
    failures: Mapped[int] = mapped_column(Integer, default=0)
