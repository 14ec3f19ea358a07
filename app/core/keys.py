"""The encryption key against the secrets it encrypted: a start-up check and `rotate-keys`.

The stored secrets are their own canary: at start-up the newest ciphertext of every encrypted
column must decrypt under the configured keys. A missing or replaced key therefore stops the
service with one clear line instead of 500s on every cloud call later.
"""
from __future__ import annotations

import logging

from cryptography.fernet import InvalidToken
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from app.accounts.models import CloudAccount
from app.clusters.models import Cluster
from app.core.crypto import decrypt, multi_fernet
from app.core.db import transaction
from app.extensions import db

log = logging.getLogger(__name__)

ENCRYPTED = {"cloud account secrets": (CloudAccount, "secret_encrypted"),
             "cluster passwords": (Cluster, "password_encrypted")}


class KeyMismatch(RuntimeError):
    """The configured encryption key cannot decrypt the stored secrets."""


def _stored(model, column):
    col = getattr(model, column)
    return select(model).where(col.is_not(None), col != "")


def check_key() -> None:
    """Raise KeyMismatch when the newest stored secret of any kind does not decrypt; do nothing on
    an empty or not yet migrated database."""
    try:
        for what, (model, column) in ENCRYPTED.items():
            row = db.session.scalar(_stored(model, column).order_by(model.id.desc()).limit(1))
            if row is None:
                continue
            try:
                decrypt(getattr(row, column))
            except InvalidToken:
                total = db.session.scalar(select(func.count()).select_from(_stored(model, column).subquery()))
                raise KeyMismatch(
                    f"the encryption key does not decrypt the {total} stored {what}: restore the key that "
                    "encrypted them (BRIDGX_ENCRYPTION_KEY, or encryption_key under BRIDGX_HOME); "
                    "refusing to start") from None
    except (OperationalError, ProgrammingError):  # no tables yet: nothing is encrypted
        db.session.rollback()
    finally:
        db.session.remove()


def rotate_all() -> dict[str, int]:
    """Re-encrypt every stored secret (deleted rows too) with the first configured key."""
    check_key()
    fernet, counts = multi_fernet(), {}
    with transaction():
        for what, (model, column) in ENCRYPTED.items():
            rows = db.session.scalars(_stored(model, column)).all()
            for row in rows:
                try:
                    setattr(row, column, fernet.rotate(getattr(row, column).encode()).decode())
                except InvalidToken:
                    raise KeyMismatch(f"{what} row {row.id} does not decrypt with any configured key; "
                                      "nothing was changed") from None
            counts[what] = len(rows)
    log.warning("rotate-keys: re-encrypted %s", ", ".join(f"{n} {what}" for what, n in counts.items()))
    return counts
