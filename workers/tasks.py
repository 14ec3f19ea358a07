"""Thin Celery tasks: load ids, call a service, nothing else."""
