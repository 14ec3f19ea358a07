"""kombu's SQLAlchemy transport, polling every 0.1 s instead of every second.

The embedded broker is a SQLite table; a task should start within a tenth of a second of its
request, not up to a second later. Registered as the `bxsqla` scheme.
"""
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as _SQLATransport


class Transport(_SQLATransport):
    polling_interval = 0.1


TRANSPORT_ALIASES.setdefault("bxsqla", "workers.sqla_transport:Transport")
