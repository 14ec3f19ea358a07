"""Imports every model so the metadata (and Alembic autogenerate) sees all tables."""
from app.accounts.models import CloudAccount  # noqa: F401
from app.auth.models import ApiToken, LoginThrottle, Organization, OrgQuota, User  # noqa: F401
from app.clusters.models import Cluster  # noqa: F401
from app.instances.models import Instance  # noqa: F401
from app.tasks.models import IdempotencyKey, ReconcileMark, Task, TaskBatch  # noqa: F401
from app.core.deployment import Deployment  # noqa: F401
from app.catalog.models import CatalogEntry  # noqa: F401
from app.network.models import SecurityGroup, SecurityGroupRule, Subnet, Vpc  # noqa: F401
from app.custom.models import CustomMachine  # noqa: F401
from app.health.models import ProcessHeartbeat  # noqa: F401
from app.elastic.models import CapacityShortage, ElasticLease, MachineReplacement, ScalingSchedule  # noqa: F401
