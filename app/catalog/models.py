from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class CatalogEntry(db.Model):
    """One cached catalogue list as the API answers it. Cached per account, not per provider:
    image lists include the account's own images, and what a zone sells can differ by account."""

    __tablename__ = "catalog_entries"
    __table_args__ = (UniqueConstraint("account_id", "kind", "region_id", "zone_id", name="uq_catalog_entry"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("cloud_accounts.id"))
    kind: Mapped[str] = mapped_column(String(16))  # regions / zones / instance_types / images
    region_id: Mapped[str] = mapped_column(String(64), default="")
    zone_id: Mapped[str] = mapped_column(String(64), default="")
    items = mapped_column(JSON, nullable=False)
    refreshed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
