"""Paging as the contract defines it: page_number ≥ 1, page_size 1..50 (larger is clamped)."""
from __future__ import annotations

from marshmallow import Schema, fields, pre_load, validate

MAX_PAGE_SIZE = 50


class PageArgs(Schema):
    page_number = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**9))
    page_size = fields.Integer(load_default=10, validate=validate.Range(min=1))

    @pre_load
    def _clamp(self, data, **kwargs):
        data = dict(data)
        try:
            if int(data.get("page_size", 0)) > MAX_PAGE_SIZE:
                data["page_size"] = MAX_PAGE_SIZE
        except (TypeError, ValueError):
            pass  # the field itself reports the bad value
        return data


class PagerSchema(Schema):
    page_number = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


class PascalPagerSchema(Schema):
    PageNumber = fields.Integer()
    PageSize = fields.Integer()
    Total = fields.Integer()


def paginate(query, args: dict, scalars: bool = True):
    """Run a SQLAlchemy select for one page: (rows, pager dict). The query must be ordered."""
    from app.extensions import db
    from sqlalchemy import func, select

    number, size = args["page_number"], args["page_size"]
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = query.limit(size).offset((number - 1) * size)
    rows = db.session.scalars(page).all() if scalars else db.session.execute(page).all()
    return rows, {"page_number": number, "page_size": size, "total": total}


def pascal(pager: dict) -> dict:
    return {"PageNumber": pager["page_number"], "PageSize": pager["page_size"], "Total": pager["total"]}
