"""Thin Celery tasks of the network and catalogue areas."""
from celery import shared_task


@shared_task(name="bridgx.catalog.refresh")
def refresh_catalog():
    """Refresh catalogue lists past half their freshness (beat)."""
    from app.catalog.service import refresh_due
    return refresh_due()
