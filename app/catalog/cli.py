"""`manage.py refresh-catalog`: refresh the catalogue cache now."""
import click
from flask import Flask


@click.command("refresh-catalog")
@click.option("--max-age", default=0.0, show_default=True, type=float,
              help="Only refresh lists cached longer ago than this many seconds (0: every list).")
@click.pass_context
def refresh_catalog(ctx, max_age):
    """Refresh every cached catalogue list (and each account's regions) from the cloud."""
    from app import create_app
    from app.catalog.service import refresh_all

    app = ctx.obj if isinstance(ctx.obj, Flask) else create_app()
    with app.app_context():
        counts = refresh_all(max_age=max_age)
    click.echo(f"refreshed {counts['refreshed']} catalogue lists, {counts['failed']} failed")
    if counts["failed"]:
        ctx.exit(1)
