"""Paging, leniently (CONTRACT.md "Routes beyond the manual"): never a 400 for paging.

A missing, zero, negative or non-numeric `page_number` is 1; `page_size` missing, zero, negative
or non-numeric is the default 10, above 50 it is 50."""
from __future__ import annotations

from marshmallow import Schema, fields, pre_load, validate

MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_NUMBER = 10**9


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def normalise_paging(data: dict) -> dict:
    """BridgX's normalisation (with the manual's default size): see the module docstring."""
    number = _int(data.get("page_number"))
    size = _int(data.get("page_size"))
    data["page_number"] = min(number, MAX_PAGE_NUMBER) if number and number > 0 else 1
    data["page_size"] = min(size, MAX_PAGE_SIZE) if size and size > 0 else DEFAULT_PAGE_SIZE
    return data


class PageArgs(Schema):
    page_number = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE_NUMBER),
                                 metadata={"description": "missing, < 1 or not a number: 1"})
    page_size = fields.Integer(load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
                               metadata={"description": "missing, < 1 or not a number: 10; above 50: 50"})

    @pre_load
    def _normalise(self, data, **kwargs):
        return normalise_paging(dict(data))


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
