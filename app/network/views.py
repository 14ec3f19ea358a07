from app.core.api import Blueprint, NullEnvelope, StringEnvelope, envelope_schema, ok
from app.network import schemas, service

blp = Blueprint("network", __name__, url_prefix="/api/v1",
                description="VPCs, subnets (switches) and security groups; describe calls answer from the local store")


@blp.route("/vpc/create", methods=["POST"])
@blp.arguments(schemas.VpcCreateSchema)
@blp.response(200, StringEnvelope)
def vpc_create(body):
    """Create a VPC through the account `ak`; `data` is its id."""
    return ok(service.create_vpc(body))


@blp.route("/vpc/describe", methods=["GET"])
@blp.arguments(schemas.VpcListArgs, location="query")
@blp.response(200, envelope_schema("VpcListEnvelope", schemas.VpcListSchema))
def vpc_describe(args):
    """The organisation's VPCs, newest first."""
    return ok(service.describe_vpcs(args))


@blp.route("/vpc/info/<vpc_id>", methods=["GET"])
@blp.response(200, envelope_schema("VpcInfoEnvelope", schemas.VpcInfoSchema))
def vpc_info(vpc_id):
    """One VPC."""
    return ok(service.vpc_info(vpc_id))


@blp.route("/subnet/create", methods=["POST"])
@blp.arguments(schemas.SubnetCreateSchema)
@blp.response(200, StringEnvelope)
def subnet_create(body):
    """Create a subnet (switch) in a stored VPC, through `account_key` or the VPC's account."""
    return ok(service.create_subnet(body))


@blp.route("/subnet/create", methods=["GET"], endpoint="subnet_create_get")
@blp.arguments(schemas.SubnetCreateSchema, location="query")
@blp.response(200, StringEnvelope)
def subnet_create_get(args):
    """The manual's spelling: subnet/create with query parameters."""
    return ok(service.create_subnet(args))


@blp.route("/subnet/describe", methods=["GET"])
@blp.arguments(schemas.SubnetListArgs, location="query")
@blp.response(200, envelope_schema("SubnetListEnvelope", schemas.SubnetListSchema))
def subnet_describe(args):
    """The subnets of one VPC, newest first."""
    return ok(service.describe_subnets(args))


@blp.route("/subnet/info/<switch_id>", methods=["GET"])
@blp.arguments(schemas.SubnetInfoArgs, location="query")
@blp.response(200, envelope_schema("SubnetInfoEnvelope", schemas.SubnetSchema))
def subnet_info(args, switch_id):
    """One subnet (optionally checked to be in `vpc_id`)."""
    return ok(service.subnet_info(switch_id, args.get("vpc_id")))


@blp.route("/security_group/create_with_rule", methods=["POST"])
@blp.arguments(schemas.SecurityGroupCreateSchema)
@blp.response(200, StringEnvelope)
def security_group_create(body):
    """Create a security group with its rules (at most 200) in a stored VPC."""
    return ok(service.create_security_group(body))


@blp.route("/security_group/create", methods=["POST"])
@blp.arguments(schemas.SecurityGroupOnlySchema)
@blp.response(200, StringEnvelope)
def security_group_create_only(body):
    """Create a security group with no rules in a stored VPC (BridgX); `data` is its id."""
    return ok(service.create_security_group(body))


@blp.route("/security_group/rule/add", methods=["POST"])
@blp.arguments(schemas.RuleAddSchema)
@blp.response(200, StringEnvelope)
def security_group_rule_add(body):
    """Add rules (`rules`, or one rule's fields at the top level) to a stored group; `data` is ""."""
    service.add_rules(body)
    return ok("")


@blp.route("/security_group/describe", methods=["GET"])
@blp.arguments(schemas.SecurityGroupListArgs, location="query")
@blp.response(200, envelope_schema("SecurityGroupListEnvelope", schemas.GroupListSchema))
def security_group_describe(args):
    """The security groups of one VPC, newest first."""
    return ok(service.describe_groups(args))


@blp.route("/security_group/<sg_id>/rules", methods=["GET"])
@blp.response(200, envelope_schema("SecurityGroupRulesEnvelope", schemas.GroupRulesSchema))
def security_group_rules(sg_id):
    """One security group with its rules."""
    return ok(service.group_rules(sg_id))


@blp.route("/network_config/create", methods=["POST"])
@blp.arguments(schemas.NetworkConfigCreateSchema)
@blp.response(200, StringEnvelope)
def network_config_create(body):
    """VPC, subnet and security group in one call; a failed step rolls back what was created."""
    return ok(service.create_network(body))


@blp.route("/network_config/sync", methods=["POST"])
@blp.arguments(schemas.SyncSchema)
@blp.response(200, NullEnvelope)
def network_config_sync(body):
    """Pull one account's VPCs, subnets, groups and rules of one region into the store."""
    service.sync(body)
    return ok(None)


@blp.route("/network_config/template", methods=["GET"])
@blp.arguments(schemas.TemplateArgs, location="query")
@blp.response(200, envelope_schema("NetworkTemplateEnvelope", schemas.TemplateSchema))
def network_config_template(args):
    """A ready-to-post network_config/create body with the default rules."""
    return ok(service.template(args["provider"]))
