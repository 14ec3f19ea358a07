"""The reconciler: what the cloud says (by our tags) against what the database says.

For every live cluster with no unfinished task:
- a machine tagged with the cluster that the database does not know is recorded, and deleted
  (it belongs to no task outcome: its task finished without it);
- a machine the database thinks is deleted but the cloud still runs is deleted again;
- a machine the database thinks is live but the cloud no longer has is marked deleted.
Nothing tagged by us is left running unknown.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import insert, select, update

from app.clusters.models import STANDARD, Cluster
from app.core.db import utcnow
from app.extensions import db
from app.instances.models import DELETED, DELETING, LIVE, Instance
from app.providers import base
from app.tasks.engine import cluster_tag, provider_for
from app.tasks.models import Task

log = logging.getLogger(__name__)
GRACE = timedelta(seconds=60)  # a just-created machine may not be listed by tag yet


def reconcile_all() -> dict:
    totals = {"recorded": 0, "deleted": 0, "marked_gone": 0}
    busy = set(db.session.scalars(select(Task.lock_cluster_id).where(Task.lock_cluster_id.is_not(None))))
    for cluster in db.session.scalars(select(Cluster).where(Cluster.deleted_id == 0,
                                                               Cluster.cluster_type == STANDARD)).all():
        if cluster.id in busy:
            continue
        try:
            for key, n in reconcile_cluster(cluster).items():
                totals[key] += n
        except base.CloudError as exc:
            db.session.rollback()
            log.warning("reconcile of cluster %s skipped: %s", cluster.id, exc)
    return totals


def reconcile_cluster(cluster: Cluster) -> dict:
    provider = provider_for(cluster)
    in_cloud = {i.instance_id: i for i in provider.describe_instances_by_tags({base.TAG_CLUSTER: cluster_tag(cluster.id)})
                if i.status != base.DELETED}
    rows = {r.instance_id: r for r in db.session.scalars(select(Instance).where(
        Instance.provider == cluster.provider, Instance.cluster_id == cluster.id))}
    now = utcnow()
    unknown = [i for i in in_cloud if i not in rows]
    if unknown:
        log.warning("cluster %s: %d machines in the cloud the database did not know; recording and deleting",
                    cluster.id, len(unknown))
        db.session.execute(insert(Instance), [
            {"org_id": cluster.org_id, "cluster_id": cluster.id, "account_id": cluster.account_id,
             "instance_id": i, "provider": cluster.provider, "region_id": cluster.region_id,
             "zone_id": in_cloud[i].zone_id or cluster.zone_id, "instance_type": in_cloud[i].instance_type or cluster.instance_type,
             "ip_inner": in_cloud[i].ip_inner, "ip_outer": in_cloud[i].ip_outer, "status": DELETING,
             "created_at": in_cloud[i].created_at or now} for i in unknown])
        db.session.commit()
    zombies = unknown + [i for i, r in rows.items() if i in in_cloud and r.status not in LIVE]
    for chunk in base.chunks(zombies, provider.limits.max_delete_ids):
        provider.delete_instances(chunk)
        db.session.execute(update(Instance).where(Instance.provider == cluster.provider, Instance.instance_id.in_(chunk),
                                                  Instance.status == DELETING).values(status=DELETED, deleted_at=utcnow()))
        db.session.commit()
    gone = [r.id for i, r in rows.items() if i not in in_cloud and r.status in LIVE and r.created_at < now - GRACE]
    if gone:
        db.session.execute(update(Instance).where(Instance.id.in_(gone)).values(status=DELETED, deleted_at=now))
        db.session.commit()
        log.warning("cluster %s: %d machines gone from the cloud marked deleted", cluster.id, len(gone))
    return {"recorded": len(unknown), "deleted": len(zombies), "marked_gone": len(gone)}
