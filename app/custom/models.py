from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class CustomMachine(db.Model):
    """One existing machine of a custom cluster; its login password is Fernet-encrypted."""

    __tablename__ = "custom_machines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    instance_ip: Mapped[str] = mapped_column(String(64))
    login_name: Mapped[str] = mapped_column(String(64))
    login_password_encrypted: Mapped[str] = mapped_column(Text)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
