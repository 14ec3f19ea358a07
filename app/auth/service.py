"""Users, organisations and tokens.

Bearer tokens are HS256 JWTs signed with SECRET_KEY that expire after TOKEN_TTL_SECONDS. Tokens
made by `manage.py create-token` start with `bxt_`, never expire, and are stored as SHA-256.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select

from app.auth import passwords
from app.auth.models import ApiToken, Organization, User
from app.core.db import transaction
from app.core.errors import Conflict, Forbidden, NotFound, ParamInvalid, Unauthorized
from app.extensions import db

_hasher = PasswordHasher()
API_TOKEN_PREFIX = "bxt_"
# Verifying against this keeps login time the same whether or not the user exists.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True)
class Principal:
    user_id: int
    org_id: int
    username: str
    is_admin: bool


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


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


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


def login(username: str, password: str) -> str:
    user = db.session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized({"reason": "wrong username or password"})
    if user is None:
        raise Unauthorized({"reason": "wrong username or password"})
    if user.disabled:  # said only to whoever knows the password
        raise Forbidden({"reason": "this account has been disabled"})
    return issue_token(user)


def issue_token(user: User) -> str:
    now = int(time.time())
    claims = {"sub": str(user.id), "org": user.org_id, "iat": now,
              "exp": now + current_app.config["TOKEN_TTL_SECONDS"]}
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256")


def refresh(principal: Principal) -> str:
    user = db.session.get(User, principal.user_id)
    if user is None:
        raise Unauthorized({"reason": "user no longer exists"})
    if user.disabled:
        raise Unauthorized({"reason": "account disabled"})
    return issue_token(user)


def authenticate(header: str | None) -> Principal:
    """The principal behind an `Authorization: Bearer ...` header, or Unauthorized."""
    header = (header or "").strip()  # ComandX sends " Bearer <token>"
    if header[:7].lower() != "bearer ":
        raise Unauthorized({"reason": "missing bearer token"})
    token = header[len("Bearer "):].strip()
    if token.startswith(API_TOKEN_PREFIX):
        row = db.session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _sha256(token)))
        if row is None or row.revoked:
            raise Unauthorized({"reason": "invalid token"})
        user = db.session.get(User, row.user_id)
    else:
        try:
            claims = jwt.decode(token, current_app.config["SECRET_KEY"], algorithms=["HS256"],
                                options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized({"reason": "token expired"})
        except jwt.InvalidTokenError:
            raise Unauthorized({"reason": "invalid token"})
        user = db.session.get(User, int(claims["sub"]))
    if user is None:
        raise Unauthorized({"reason": "user no longer exists"})
    if user.disabled:  # checked on every request: disabling ends JWTs and bxt_ tokens at once
        raise Unauthorized({"reason": "account disabled"})
    return Principal(user.id, user.org_id, user.username, user.is_admin)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
