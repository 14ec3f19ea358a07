"""A real SSH server on 127.0.0.1 for tests (paramiko's server mode): one user, one password,
sessions allowed, nothing executed. Plus two bad addresses: a closed port, and a socket that
accepts connections but never sends the SSH banner."""
from __future__ import annotations

import socket
import threading

import paramiko


class _Auth(paramiko.ServerInterface):
    def __init__(self, username: str, password: str):
        self.username, self.password = username, password

    def get_allowed_auths(self, username):
        return "password"

    def check_auth_password(self, username, password):
        ok = username == self.username and password == self.password
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class SSHServer:
    """`with SSHServer("root", "pw") as srv:` → srv.port on 127.0.0.1; stops and joins on exit."""

    def __init__(self, username: str, password: str):
        self.username, self.password = username, password
        self.host_key = paramiko.Ed25519Key.from_private_key(_ed25519_pem())
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.logins = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._transports: list[paramiko.Transport] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self._acceptor.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._acceptor.join(5)
        for t in self._transports:
            t.close()
        for th in self._threads:
            th.join(5)
        self.sock.close()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            th = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(th)
            th.start()

    def _serve(self, conn):
        transport = paramiko.Transport(conn)
        self._transports.append(transport)
        transport.add_server_key(self.host_key)
        try:
            transport.start_server(server=_Auth(self.username, self.password))
            channel = transport.accept(10)
            if channel is not None:
                self.logins += 1
                # like sshd: stay until the client hangs up
                deadline = 100
                while transport.is_active() and not channel.closed and deadline:
                    channel.status_event.wait(0.1)
                    deadline -= 1
        except (paramiko.SSHException, EOFError, OSError):
            pass
        finally:
            transport.close()


class SilentListener:
    """Accepts TCP connections on 127.0.0.1 and never says a word (no SSH banner)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)  # the kernel completes the handshake; nobody ever reads or writes
        self.port = self.sock.getsockname()[1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


_KEY = None


def _ed25519_pem():
    """A fresh host key per test session (an in-memory OpenSSH-format Ed25519 key)."""
    global _KEY
    import io

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    if _KEY is None:
        _KEY = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
    return io.StringIO(_KEY)
