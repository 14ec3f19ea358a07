"""Users of the caller's organisation: listing for everyone; creating, enabling and disabling
users and changing roles for admins only. An admin never disables or demotes itself, so every
organisation keeps at least one enabled admin through the API."""
from __future__ import annotations

import logging

from sqlalchemy import select

from app.auth import service as auth
from app.auth.models import Organization, User
from app.core.db import transaction
from app.core.errors import NotFound, ParamInvalid
from app.core.paging import paginate
from app.core.tenancy import org_id, principal, require_admin
from app.core.timefmt import fmt_plain
from app.extensions import db

log = logging.getLogger(__name__)


def user_type(user: User) -> str:
    return "ADMIN" if user.is_admin else "COMMON"


def user_status(user: User) -> str:
    return "disable" if user.disabled else "enable"


def info() -> dict:
    user = db.session.get(User, principal().user_id)
    org = db.session.get(Organization, user.org_id)
    return {"user_id": user.id, "username": user.username, "user_type": user_type(user),
            "user_status": user_status(user), "org_id": user.org_id, "org_name": org.name,
            "create_at": fmt_plain(user.created_at)}


def list_page(args: dict) -> dict:
    query = select(User).where(User.org_id == org_id()).order_by(User.id.desc())
    rows, pager = paginate(query, args)
    return {"user_list": [{"user_id": str(u.id), "user_name": u.username, "create_at": fmt_plain(u.created_at),
                           "create_by": u.create_by, "user_status": user_status(u), "user_type": user_type(u)}
                          for u in rows],
            "pager": pager}


def create(body: dict) -> User:
    """An admin adds a user (ADMIN or COMMON) to its own organisation."""
    require_admin()
    user = auth.create_user(None, body["username"], body["password"], admin=body["user_type"] == "ADMIN",
                            org_id=org_id(), create_by=principal().username)
    log.info("user %s (%s) created in organisation %s by %s", user.username, user_type(user), user.org_id,
             principal().username)
    return user


def modify_password(body: dict) -> None:
    """The caller changes its own password (the old one proves it is still the caller)."""
    me = principal()
    if body.get("username") not in (None, "", me.username):
        raise ParamInvalid("username", "you can only change your own password")
    with transaction():
        user = db.session.get(User, me.user_id)
        if not auth.password_matches(user, body["old_password"]):
            raise ParamInvalid("old_password", "does not match your current password")
        auth.check_password(body["new_password"], user.username)
        user.password_hash = auth.hash_password(body["new_password"])
    log.info("user %s changed its password", me.username)


def _members(where, field: str, wanted: list) -> list[User]:
    """The caller's organisation's users matching `where`; 404 naming any that is not one."""
    users = db.session.scalars(select(User).where(User.org_id == org_id(), where)).all()
    found = {u.username for u in users} | {u.id for u in users}
    missing = [w for w in wanted if w not in found]
    if missing:
        raise NotFound({field: "no such user in your organisation: " + ", ".join(map(str, missing))})
    return list(users)


def set_enabled(usernames: list[str], action: str) -> None:
    require_admin()
    me = principal()
    with transaction():
        users = _members(User.username.in_(usernames), "usernames", usernames)
        if action == "disable" and any(u.id == me.user_id for u in users):
            raise ParamInvalid("usernames", "you cannot disable yourself")
        for user in users:
            user.disabled = action == "disable"
            if user.disabled:
                auth.end_sessions(user)  # its JWTs stay dead even if the user is enabled again
    level = logging.WARNING if action == "disable" else logging.INFO
    log.log(level, "%s %sd %d user(s) of organisation %s: %s", me.username, action, len(users), me.org_id,
            ", ".join(u.username for u in users))


def set_type(user_ids: list[int], new_type: str) -> None:
    require_admin()
    me = principal()
    with transaction():
        users = _members(User.id.in_(user_ids), "user_ids", user_ids)
        if new_type != "ADMIN" and any(u.id == me.user_id for u in users):
            raise ParamInvalid("user_ids", "you cannot change your own role")
        for user in users:
            user.is_admin = new_type == "ADMIN"
    log.warning("%s set the role of %d user(s) of organisation %s to %s: %s", me.username, len(users), me.org_id,
                new_type, ", ".join(u.username for u in users))


# ------------------------------------------------------------------ operator commands (manage.py)
def _by_name(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound({"username": f"no user {username!r}"})
    return user


def operator_set_password(username: str, password: str) -> None:
    with transaction():
        user = _by_name(username)
        auth.check_password(password, username)
        user.password_hash = auth.hash_password(password)
    log.warning("operator set the password of user %s", username)


def operator_set_disabled(username: str, disabled: bool) -> None:
    with transaction():
        user = _by_name(username)
        user.disabled = disabled
        if disabled:
            auth.end_sessions(user)  # its JWTs stay dead even if the user is enabled again
    log.warning("operator %s user %s", "disabled" if disabled else "enabled", username)


def operator_set_role(username: str, role: str) -> None:
    with transaction():
        _by_name(username).is_admin = role == "ADMIN"
    log.warning("operator set the role of user %s to %s", username, role)
