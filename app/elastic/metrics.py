"""Elastic-cluster metrics: desired vs live per cluster (read from the database at scrape time,
right in every process), replacements and capacity-cache hits (counted where they happen)."""
from __future__ import annotations

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from app.clusters.models import Cluster
from app.extensions import db
from app.instances.models import PENDING, RUNNING, Instance

REPLACEMENTS = Counter("bridgx_elastic_replacements", "Machines self-healing found dead", ["provider", "reason"])
CAPACITY_CACHE_HITS = Counter("bridgx_capacity_cache_hits",
                              "Placements skipped because the capacity cache knew them out of stock", ["provider"])
CAPACITY_FALLBACKS = Counter("bridgx_capacity_fallbacks",
                             "Batches moved to the next zone/type after an out-of-capacity answer", ["provider"])


class ElasticCollector:
    def collect(self):
        desired = GaugeMetricFamily("bridgx_cluster_desired", "Desired machines of an elastic cluster",
                                    labels=["cluster"])
        live = GaugeMetricFamily("bridgx_cluster_live", "Pending or running machines of an elastic cluster",
                                 labels=["cluster"])
        rows = db.session.execute(select(Cluster.id, Cluster.desired).where(
            Cluster.deleted_id == 0, Cluster.desired.is_not(None))).all()
        counts = dict(db.session.execute(select(Instance.cluster_id, func.count()).where(
            Instance.cluster_id.in_([r.id for r in rows]), Instance.status.in_((PENDING, RUNNING)))
            .group_by(Instance.cluster_id)).all()) if rows else {}
        for r in rows:
            desired.add_metric([str(r.id)], r.desired)
            live.add_metric([str(r.id)], counts.get(r.id, 0))
        yield desired
        yield live
