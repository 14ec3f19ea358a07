"""Organisations: read and rename your own."""
