"""Extension singletons, bound to the app in create_app."""
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from app.core.api import Api


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
api = Api()
