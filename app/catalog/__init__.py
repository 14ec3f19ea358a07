"""Regions, zones, instance types and images: a per-account cache filled from the cloud."""
