"""Users, organisations and tokens.

Bearer tokens are HS256 JWTs signed with SECRET_KEY that expire after TOKEN_TTL_SECONDS. Tokens
made by `manage.py create-token` start with `bxt_`, never expire, and are stored as SHA-256.

Every request re-checks what could end a token early: a JWT carries the user's `session_epoch`
(`ep`; bumping it ends all of the user's JWTs) and, when it was minted from a `bxt_` token, that
token's id (`tid`; revoking the token ends every JWT derived from it, refreshes included).
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select

from app.auth import passwords, throttle
from app.auth.models import ApiToken, Organization, User
from app.core.db import transaction, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ParamInvalid, Unauthorized
from app.extensions import db

log = logging.getLogger(__name__)

# Argon2id with OWASP's first recommended setting (19 MiB, 2 passes, 1 lane) instead of the
# library default (64 MiB): with at most LOGIN_HASH_CONCURRENCY hashes at once per process, login
# memory is bounded by about 19 MiB x that number, whatever the request rate. Older hashes still
# verify (the parameters are in the hash) and are rehashed on the next successful login.
ARGON2_MEMORY_KIB = 19 * 1024
_hasher = PasswordHasher(time_cost=2, memory_cost=ARGON2_MEMORY_KIB, parallelism=1)
_hash_slots: threading.BoundedSemaphore | None = None
_hash_slots_lock = threading.Lock()
API_TOKEN_PREFIX = "bxt_"
# Verifying against this keeps login time the same whether or not the user exists.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def _slots() -> threading.BoundedSemaphore:
    global _hash_slots
    with _hash_slots_lock:
        if _hash_slots is None:
            _hash_slots = threading.BoundedSemaphore(max(current_app.config["LOGIN_HASH_CONCURRENCY"], 1))
        return _hash_slots


def hash_password(password: str) -> str:
    """Every argon2 run (login, password change, user creation) takes one of the bounded slots."""
    with _slots():
        return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    with _slots():
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True)
class Principal:
    user_id: int
    org_id: int
    username: str
    is_admin: bool
    token_id: int | None = None  # the bxt_ token this request's credential derives from


def ensure_org(name: str) -> Organization:
    org = db.session.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        org = Organization(name=name)
        db.session.add(org)
        db.session.flush()
    return org


def check_password(password: str, username: str | None = None) -> None:
    """400 naming `password` when it breaks the policy (see app.auth.passwords)."""
    reason = passwords.problem(password, username)
    if reason:
        raise ParamInvalid("password", reason)


def password_matches(user: User, password: str) -> bool:
    return _verify(user.password_hash, password)


def create_user(org_name: str | None, username: str, password: str, admin: bool = False,
                org_id: int | None = None, create_by: str = "") -> User:
    """Create a user in an organisation (by id, or by name: created when new)."""
    check_password(password, username)
    with transaction():
        if db.session.scalar(select(User).where(User.username == username)):
            raise Conflict({"username": f"user {username!r} already exists"})
        org_id = org_id if org_id is not None else ensure_org(org_name).id
        user = User(org_id=org_id, username=username, password_hash=hash_password(password), is_admin=admin,
                    create_by=create_by)
        db.session.add(user)
    return user


def create_api_token(username: str, name: str = "script") -> str:
    """A long-lived token for scripts; the plaintext is shown once."""
    with transaction():
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound({"username": f"no user {username!r}"})
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        db.session.add(ApiToken(user_id=user.id, name=name, token_sha256=_sha256(token)))
    return token


def login(username: str, password: str, address: str | None = None) -> str:
    """A JWT for the right password; 401 otherwise; 429 while the user name or the client
    address has too many recent failures (checked before any hashing)."""
    throttle.check(username, address)
    user = db.session.scalar(select(User).where(User.username == username))
    if not _verify(user.password_hash if user else _DUMMY_HASH, password) or user is None:
        throttle.failed(username, address)
        raise Unauthorized({"reason": "wrong username or password"})
    throttle.succeeded(username)
    if user.disabled:  # said only to whoever knows the password
        raise Forbidden({"reason": "this account has been disabled"})
    if _hasher.check_needs_rehash(user.password_hash):
        with transaction():
            db.session.get(User, user.id).password_hash = hash_password(password)
    return issue_token(user)


def issue_token(user: User, token_id: int | None = None) -> str:
    now = int(time.time())
    claims = {"sub": str(user.id), "org": user.org_id, "iat": now, "ep": user.session_epoch or 0,
              "exp": now + current_app.config["TOKEN_TTL_SECONDS"]}
    if token_id is not None:
        claims["tid"] = token_id
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256")


def refresh(principal: Principal) -> str:
    """A fresh JWT for a still-valid token; one derived from a bxt_ token stays tied to it."""
    user = db.session.get(User, principal.user_id)
    if user is None:
        raise Unauthorized({"reason": "user no longer exists"})
    if user.disabled:
        raise Unauthorized({"reason": "account disabled"})
    return issue_token(user, principal.token_id)


# ---------------------------------------------------------------- revocation
def token_rows(principal: Principal) -> list[tuple[ApiToken, str]]:
    """The caller's tokens (an admin: its organisation's), newest first, with their owner."""
    query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id.desc())
    query = query.where(User.org_id == principal.org_id) if principal.is_admin else \
        query.where(ApiToken.user_id == principal.user_id)
    return list(db.session.execute(query).all())


def revoke_token(token_id: int | None = None, token: str | None = None, principal: Principal | None = None) -> ApiToken:
    """Revoke a bxt_ token (by id or by value): it and every JWT minted from it stop working.
    With a principal: only its own tokens (an admin: any of its organisation's), else 404."""
    with transaction():
        if token is not None:
            row = db.session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _sha256(token)))
        else:
            row = db.session.get(ApiToken, token_id)
        owner = db.session.get(User, row.user_id) if row is not None else None
        if owner is None or (principal is not None and (
                owner.org_id != principal.org_id or (not principal.is_admin and owner.id != principal.user_id))):
            raise NotFound({"token_id" if token is None else "token": "not found"})
        if not row.revoked:
            row.revoked, row.revoked_at = True, utcnow()
            log.warning("revoked API token %s (%s) of user %s", row.id, row.name, owner.username)
        row.owner_name = owner.username  # for the answer; not a column
    return row


def end_sessions(user: User) -> None:
    """End every JWT of the user (they carry the old epoch). The caller commits."""
    user.session_epoch = (user.session_epoch or 0) + 1


def revoke_user_tokens(username: str) -> int:
    """Revoke all of a user's bxt_ tokens and end its sessions; returns how many tokens."""
    with transaction():
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound({"username": f"no user {username!r}"})
        rows = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                          ApiToken.revoked.is_(False))).all()
        for row in rows:
            row.revoked, row.revoked_at = True, utcnow()
        end_sessions(user)
    log.warning("revoked %d API tokens of user %s and ended its sessions", len(rows), username)
    return len(rows)


PRINCIPAL_COLUMNS = (User.id, User.org_id, User.username, User.is_admin, User.disabled, User.session_epoch)


def authenticate(header: str | None) -> Principal:
    """The principal behind an `Authorization: Bearer ...` header, or Unauthorized."""
    header = (header or "").strip()  # ComandX sends " Bearer <token>"
    if header[:7].lower() != "bearer ":
        raise Unauthorized({"reason": "missing bearer token"})
    token = header[len("Bearer "):].strip()
    if token.startswith(API_TOKEN_PREFIX):
        # the token and its user in one round trip (this runs on every request), only the columns
        # a principal needs (no ORM entity, no password hash)
        row = db.session.execute(select(ApiToken.id.label("token_id"), ApiToken.revoked, *PRINCIPAL_COLUMNS)
                                 .outerjoin(User, User.id == ApiToken.user_id)
                                 .where(ApiToken.token_sha256 == _sha256(token))).first()
        if row is None or row.revoked:
            raise Unauthorized({"reason": "invalid token"})
        user, token_id = (row if row.id is not None else None), row.token_id
    else:
        try:
            claims = jwt.decode(token, current_app.config["SECRET_KEY"], algorithms=["HS256"],
                                options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized({"reason": "token expired"})
        except jwt.InvalidTokenError:
            raise Unauthorized({"reason": "invalid token"})
        user_id, token_id, epoch = claims["sub"], claims.get("tid"), claims.get("ep", 0)
        if not (_small_int(user_id) and (token_id is None or _small_int(token_id)) and _small_int(epoch)):
            raise Unauthorized({"reason": "invalid token"})
        if token_id is None:
            user = db.session.execute(select(*PRINCIPAL_COLUMNS).where(User.id == int(user_id))).first()
        else:  # the user and the token the session came from, in one round trip
            row = db.session.execute(select(*PRINCIPAL_COLUMNS, ApiToken.revoked,
                                            ApiToken.user_id.label("token_user_id"))
                                     .outerjoin(ApiToken, ApiToken.id == int(token_id))
                                     .where(User.id == int(user_id))).first()
            user = row
        if user is not None and user.disabled:
            raise Unauthorized({"reason": "account disabled"})
        if user is not None and int(epoch) != (user.session_epoch or 0):
            raise Unauthorized({"reason": "session ended"})
        if token_id is not None:
            if row is None or row.revoked is None or row.revoked or row.token_user_id != int(user_id):
                raise Unauthorized({"reason": "token revoked"})
            token_id = int(token_id)
    if user is None:
        raise Unauthorized({"reason": "user no longer exists"})
    if user.disabled:  # checked on every request: disabling ends JWTs and bxt_ tokens at once
        raise Unauthorized({"reason": "account disabled"})
    return Principal(user.id, user.org_id, user.username, user.is_admin, token_id)


def _small_int(value) -> bool:
    """A JWT claim holding a database id: an int or a decimal string, in range (else 401, not 500)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return True
    return isinstance(value, int) and 0 <= value < 2 ** 63


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
