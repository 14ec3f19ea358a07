from marshmallow import Schema, ValidationError, fields, validate

from app.core.ids import Id
from app.core.paging import PageArgs, PagerSchema

USER_TYPES = ("ADMIN", "COMMON")
USERNAME = validate.Length(min=1, max=64)


def check_username(value: str) -> None:
    if not value.strip() or value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError("must not be blank, have surrounding spaces or contain control characters")


class CreateUserSchema(Schema):
    username = fields.String(required=True, validate=[USERNAME, check_username])
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=256),
                             metadata={"description": "8-128 characters, three of upper/lower/digit/other"})
    user_type = fields.String(required=True, validate=validate.OneOf(USER_TYPES))


class ModifyPasswordSchema(Schema):
    old_password = fields.String(required=True, load_only=True, validate=validate.Length(max=256))
    new_password = fields.String(required=True, load_only=True, validate=validate.Length(max=256))
    username = fields.String(validate=USERNAME, metadata={"description": "optional; must be the caller"})


class EnableUserSchema(Schema):
    usernames = fields.List(fields.String(validate=USERNAME), required=True, validate=validate.Length(min=1, max=100))
    action = fields.String(required=True, validate=validate.OneOf(["enable", "disable"]))


class ModifyUserTypeSchema(Schema):
    user_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=100))
    user_type = fields.String(required=True, validate=validate.OneOf(USER_TYPES))


class UserListArgs(PageArgs):
    pass


class UserInfoSchema(Schema):
    user_id = fields.Integer()
    username = fields.String()
    user_type = fields.String(metadata={"description": "ADMIN or COMMON"})
    user_status = fields.String(metadata={"description": "enable or disable"})
    org_id = fields.Integer()
    org_name = fields.String()
    create_at = fields.String(metadata={"description": "YYYY-MM-DD HH:MM:SS, deployment time zone"})


class UserRowSchema(Schema):
    user_id = fields.String()
    user_name = fields.String()
    create_at = fields.String()
    create_by = fields.String()
    user_status = fields.String(metadata={"description": "enable or disable"})
    user_type = fields.String(metadata={"description": "ADMIN or COMMON"})


class UserListSchema(Schema):
    user_list = fields.List(fields.Nested(UserRowSchema))
    pager = fields.Nested(PagerSchema)
