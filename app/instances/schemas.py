"""Inventory query arguments and response shapes (keys as in the manual's response examples)."""
from marshmallow import Schema, ValidationError, fields, validate

from app.core.paging import PageArgs, PagerSchema
from app.instances.models import DELETED, DELETING, FAILED, PENDING, RUNNING
from app.providers.base import PROVIDERS

STATUSES = {s.lower(): [s] for s in (PENDING, RUNNING, DELETING, DELETED, FAILED)}
# BridgX's internal statuses (ComandX sends UNDEFINED,PENDING,TIMEOUT,STARTING,RUNNING,DELETING):
# a machine not yet running is Pending here, one that never came up in time is Failed, and no
# machine of ours is ever "undefined".
BRIDGX_STATUSES = {"undefined": [], "starting": [PENDING], "timeout": [FAILED]}
TEXT = validate.Length(min=1, max=128)


class StatusList(fields.String):
    """`running,deleted` (any case) → ["Running", "Deleted"]; BridgX's names are accepted too."""

    def _deserialize(self, value, attr, data, **kwargs):
        parts = [p.strip().lower() for p in super()._deserialize(value, attr, data, **kwargs).split(",") if p.strip()]
        known = {**STATUSES, **BRIDGX_STATUSES}
        unknown = [p for p in parts if p not in known]
        if not parts or unknown:
            names = ", ".join(s for [s] in STATUSES.values())
            raise ValidationError(f"must be a comma list of {names} (or BridgX's UNDEFINED, STARTING, TIMEOUT)")
        return list(dict.fromkeys(s for p in parts for s in known[p]))


class InstanceListArgs(PageArgs):
    account = fields.String(validate=TEXT)
    instance_id = fields.String(validate=TEXT)
    ip = fields.String(validate=validate.Length(min=1, max=64))
    provider = fields.String(validate=validate.OneOf(PROVIDERS))
    cluster_name = fields.String(validate=TEXT)
    status = StatusList()


class InstanceIdArgs(Schema):
    instance_id = fields.String(required=True, validate=TEXT)


class InstanceNumArgs(Schema):
    account = fields.String(validate=TEXT)
    cluster_name = fields.String(validate=TEXT)


class InstanceSummarySchema(Schema):
    instance_id = fields.String()
    ip_inner = fields.String()
    ip_outer = fields.String()
    provider = fields.String()
    create_at = fields.String()
    status = fields.String()
    startup_time = fields.Integer()
    cluster_name = fields.String()
    instance_type = fields.String()
    # BridgX's keys beside the manual's (ComandX's server list and cluster machines tab)
    cluster_type = fields.String()
    login_name = fields.String()
    login_password = fields.String(metadata={"description": "\"******\" when the cluster has a password; never the password"})
    charge_type = fields.String()
    computing_power_type = fields.String(metadata={"description": "CPU / GPU from the cluster's extend_config, else \"\""})


class InstanceListSchema(Schema):
    instance_list = fields.List(fields.Nested(InstanceSummarySchema))
    pager = fields.Nested(PagerSchema)


class InstanceDataDiskSchema(Schema):
    data_disk_type = fields.String()
    data_disk_size = fields.Integer()


class InstanceStorageSchema(Schema):
    system_disk_type = fields.String()
    system_disk_size = fields.Integer()
    data_disks = fields.List(fields.Nested(InstanceDataDiskSchema))
    data_disk_num = fields.Integer()


class InstanceNetworkSchema(Schema):
    vpc_name = fields.String()
    subnet_id_name = fields.String()
    security_group_name = fields.String()


class InstanceDetailSchema(Schema):
    instance_id = fields.String()
    provider = fields.String()
    region_id = fields.String()
    image_id = fields.String()
    instance_type = fields.String()
    ip_inner = fields.String()
    ip_outer = fields.String()
    create_at = fields.String()
    storage_config = fields.Nested(InstanceStorageSchema)
    network_config = fields.Nested(InstanceNetworkSchema)


class InstanceNumSchema(Schema):
    instance_num = fields.Integer()
