from marshmallow import Schema, ValidationError, fields, validate

from app.core.ids import Id


def check_org_name(value: str) -> None:
    if not value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError("must not be blank or contain control characters")


class OrgEditSchema(Schema):
    org_id = Id(required=True, metadata={"description": "your organisation's id (from user/info)"})
    org_name = fields.String(required=True, validate=[validate.Length(min=1, max=128), check_org_name])


class OrgSchema(Schema):
    id = fields.Integer()
    org_name = fields.String()
    create_at = fields.String(metadata={"description": "YYYY-MM-DD HH:MM:SS, deployment time zone"})
    update_at = fields.String(metadata={"description": "YYYY-MM-DD HH:MM:SS, deployment time zone"})
