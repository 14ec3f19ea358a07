from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class CloudAccount(db.Model):
    """A cloud access key pair. `deleted_id` is 0 while live and the row id once deleted, so a
    deleted key can be registered again while history keeps pointing at the old row."""

    __tablename__ = "cloud_accounts"
    __table_args__ = (UniqueConstraint("org_id", "account_key", "deleted_id", name="uq_account_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    account_name: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(32))
    account_key: Mapped[str] = mapped_column(String(128))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    endpoint: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    extras = mapped_column(JSON, nullable=True)
    create_by: Mapped[str] = mapped_column(String(64), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    deleted_id: Mapped[int] = mapped_column(Integer, default=0)

    def credentials(self):
        """Decrypted credentials for a driver (never logged, never returned)."""
        from app.core.crypto import decrypt
        from app.providers.base import Credentials
        # Rate budgets belong to this row (or, before it is stored, to the organisation's key).
        budget = f"account:{self.id}" if self.id else f"org:{self.org_id}:{self.provider}:{self.account_key}"
        return Credentials(access_key=self.account_key, secret_key=decrypt(self.secret_encrypted),
                           endpoint=self.endpoint, project_id=self.project_id, extras=self.extras or {},
                           budget=budget)
