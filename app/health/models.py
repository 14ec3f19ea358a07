from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class ProcessHeartbeat(db.Model):
    """A Celery worker or beat process, written by the process itself every few seconds.

    The API cannot see workers any other way in the embedded topology (the SQLite broker has no
    broadcast), so liveness is "seen in the last BRIDGX_PROCESS_STALE_SECONDS"."""

    __tablename__ = "process_heartbeats"
    name: Mapped[str] = mapped_column(String(191), primary_key=True)  # celery node name, e.g. worker@host
    kind: Mapped[str] = mapped_column(String(16))  # worker | beat
    hostname: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    started_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
