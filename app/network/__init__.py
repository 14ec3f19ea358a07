"""VPCs, subnets and security groups: created in the cloud, answered from a local store."""
