"""Cloud accounts: keys verified against the cloud, secrets encrypted, never returned."""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from app.accounts.models import CloudAccount
from app.core.crypto import encrypt
from app.core.db import transaction
from app.core.errors import CloudFailure, Conflict, ParamInvalid
from app.core.paging import paginate
from app.core.tenancy import org_id, owned, principal, require_admin
from app.core.timefmt import fmt
from app.extensions import db

log = logging.getLogger(__name__)


def to_dict(acc: CloudAccount) -> dict:
    return {"id": acc.id, "account_name": acc.account_name, "account_key": acc.account_key,
            "provider": acc.provider, "endpoint": acc.endpoint, "project_id": acc.project_id,
            "create_at": fmt(acc.created_at), "create_by": acc.create_by}


def live_accounts():
    return select(CloudAccount).where(CloudAccount.org_id == org_id(), CloudAccount.deleted_id == 0)


def find_by_key(account_key: str, provider: str | None = None) -> CloudAccount | None:
    query = live_accounts().where(CloudAccount.account_key == account_key)
    if provider:
        query = query.where(CloudAccount.provider == provider)
    return db.session.scalar(query)


def first_of_provider(provider: str) -> CloudAccount | None:
    return db.session.scalar(live_accounts().where(CloudAccount.provider == provider).order_by(CloudAccount.id))


# One message whatever went wrong at the endpoint (refused, timed out, not a cloud API, an
# error page): the answer never quotes what the remote end said and never tells an open port
# from a closed one.
def unreachable(provider: str) -> str:
    """The one answer for an endpoint override that fails: whatever is (or is not) listening there,
    the text is the same, so the account form neither quotes internal pages nor scans ports."""
    return f"could not reach the {provider} API at this endpoint, or it is not a cloud API; nothing is known about the key pair"


def verify(acc: CloudAccount) -> None:
    """One cheap read call. A key the cloud rejects is a 400; a cloud that cannot be asked is a 502
    (the key is not blamed)."""
    if not current_app.config["VERIFY_ACCOUNTS"]:
        return
    from app.providers import base, registry
    try:
        provider = registry.get_provider(acc.provider, acc.credentials(), None)
        if not provider.list_regions():  # every cloud API has regions; an HTML 200 page parses as none
            raise base.CloudUnavailable("no regions in the answer", "NotACloudApi")
    except base.AuthFailed:
        raise ParamInvalid("account_secret", "the cloud rejected this key pair")
    except base.CloudError as exc:
        log.info("cloud account check of %s failed: %s", acc.provider, type(exc).__name__)
        if acc.endpoint:
            raise CloudFailure({"endpoint": unreachable(acc.provider)})
        if isinstance(exc, (base.CloudUnavailable, base.Throttled)):
            raise CloudFailure({"cloud": f"could not reach the {acc.provider} API to verify the key pair "
                                         f"({type(exc).__name__}); try again later"})
        raise ParamInvalid("account_key", "could not verify the key pair with the cloud (refused)")


def check_endpoint_allowed(endpoint: str | None) -> None:
    """An endpoint override must be on the operator's allow-list (BRIDGX_ENDPOINT_ALLOWLIST)."""
    from app.providers.endpoints import allowed, parse_allowlist
    if endpoint and not allowed(endpoint, parse_allowlist(current_app.config["ENDPOINT_ALLOWLIST"])):
        raise ParamInvalid("endpoint", "not an endpoint this service may call: overrides are limited to the "
                                       "operator's allow-list (BRIDGX_ENDPOINT_ALLOWLIST); leave it out to use "
                                       "the cloud's own endpoints")


def _check_project_id(provider: str, project_id: str | None) -> None:
    if provider == "HuaweiCloud" and not project_id:
        raise ParamInvalid("project_id", "HuaweiCloud accounts need a project_id")


def create(body: dict) -> CloudAccount:
    require_admin()
    _check_project_id(body["provider"], body.get("project_id"))
    check_endpoint_allowed(body.get("endpoint"))
    if find_by_key(body["account_key"]):
        raise Conflict({"account_key": "this access key is already registered in the organisation"})
    acc = CloudAccount(org_id=org_id(), account_name=body["account_name"], provider=body["provider"],
                       account_key=body["account_key"], secret_encrypted=encrypt(body["account_secret"]),
                       endpoint=(body.get("endpoint") or "").rstrip("/") or None,
                       project_id=body.get("project_id"), extras=body.get("extras"),
                       create_by=principal().username)
    verify(acc)
    with transaction():
        db.session.add(acc)
    log.info("cloud account %s (%s) created", acc.id, acc.provider)
    return acc


def edit(body: dict) -> CloudAccount:
    require_admin()
    check_endpoint_allowed(body.get("endpoint"))
    with transaction():
        acc = owned(db.session.get(CloudAccount, body["account_id"]), "account_id")
        if body.get("provider", acc.provider) != acc.provider:
            raise ParamInvalid("provider", f"this is a {acc.provider} key; add the other cloud's key as a new account")
        for key in ("account_name", "project_id", "extras"):
            if key in body:
                setattr(acc, key, body[key])
        if "endpoint" in body:
            acc.endpoint = (body["endpoint"] or "").rstrip("/") or None
        if "account_secret" in body:
            acc.secret_encrypted = encrypt(body["account_secret"])
        _check_project_id(acc.provider, acc.project_id)
        if {"account_secret", "endpoint", "project_id"} & body.keys():
            verify(acc)
    return acc


def delete(ids: list[int]) -> None:
    """Delete accounts; refused (409, nothing deleted) while any live cluster uses one."""
    from app.clusters.models import Cluster
    require_admin()
    with transaction():
        accounts = [owned(db.session.get(CloudAccount, i), "ids") for i in ids]
        in_use = db.session.scalars(select(Cluster.name).where(
            Cluster.account_id.in_([a.id for a in accounts]), Cluster.deleted_id == 0)).all()
        if in_use:
            raise Conflict({"ids": "accounts still used by clusters: " + ", ".join(sorted(in_use))})
        for acc in accounts:
            acc.deleted_id = acc.id


def list_page(args: dict):
    query = live_accounts()
    if args.get("provider"):
        query = query.where(CloudAccount.provider == args["provider"])
    if args.get("account_name"):  # a substring, as in BridgX
        query = query.where(CloudAccount.account_name.contains(args["account_name"], autoescape=True))
    if args.get("account"):
        query = query.where(CloudAccount.account_key == args["account"])
    rows, pager = paginate(query.order_by(CloudAccount.id.desc()), args)
    rows = [to_dict(a) for a in rows]
    return {"account_list": [dict(r, id=str(r["id"]), account=r["account_key"]) for r in rows],
            "cloud_account_list": rows, "pager": pager}
