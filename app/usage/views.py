from app.core.api import Blueprint, envelope_schema, ok
from app.usage import service
from app.usage.schemas import UsageArgs, UsageStatisticsArgs, UsageStatisticsSchema, UsageTotalSchema

blp = Blueprint("usage", __name__, url_prefix="/api/v1/instance", description="Usage (billing)")


@blp.route("/usage_total", methods=["GET"])
@blp.arguments(UsageArgs, location="query")
@blp.response(200, envelope_schema("UsageTotalEnvelope", UsageTotalSchema), lean=True)
def usage_total(args):
    """Machine-seconds used on `date` (deployment timezone) by all the caller's clusters, or one."""
    return ok({"usage_total": service.total(args["date"], args.get("cluster_name"))})


@blp.route("/usage_statistics", methods=["GET"])
@blp.arguments(UsageStatisticsArgs, location="query")
@blp.response(200, envelope_schema("UsageStatisticsEnvelope", UsageStatisticsSchema))
def usage_statistics(args):
    """Per-instance seconds on `date`; the rows of a day add up to its usage_total."""
    return ok(service.statistics(args))
