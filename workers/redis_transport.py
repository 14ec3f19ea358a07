"""kombu's Redis transport with one fix: a worker survives a broker outage while it holds a task.

With celery 5.7.0 / kombu 5.7.0 (the newest releases), when the consumer loses Redis it first
`collect()`s the connection, which detaches the transport (`transport.client = None`), and then
`close()`s it; closing the channel restores its unacknowledged messages (task_acks_late), which
builds a Redis pool from `transport.client.hostname` → AttributeError "'NoneType' object has no
attribute 'hostname'". AttributeError is not a connection error, so celery calls it an
"Unrecoverable error" and the worker shuts down as soon as its running task ends. The same
failure hits the late ack of that task.

Each channel keeps the connection details it was created with and uses them when the transport
has been detached: the restore then either reaches Redis or fails with a connection error
(which kombu ignores; the message stays in Redis' unacked set and comes back after the
visibility timeout, and the engine makes a second delivery harmless). Registered for the
`redis://` and `rediss://` schemes.
"""
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as _redis


class Channel(_redis.Channel):
    def __init__(self, connection, *args, **kwargs):
        self._conninfo = connection.client
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous=False):
        if self.connection.client is None and self._conninfo is not None:
            self.connection.client = self._conninfo  # a detached transport: this channel's own details
        return super()._connparams(asynchronous=asynchronous)


class Transport(_redis.Transport):
    Channel = Channel


TRANSPORT_ALIASES["redis"] = "workers.redis_transport:Transport"
TRANSPORT_ALIASES["rediss"] = "workers.redis_transport:Transport"
