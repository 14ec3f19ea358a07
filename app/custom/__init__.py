"""Custom clusters: machines that already exist (any cloud, or a private data centre), recorded
with their login so they can be checked over SSH; never scaled, billed or reconciled by us."""
