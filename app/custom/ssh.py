"""Log in over SSH with a password, as BridgX's `cluster/instance/check` does, and say why not.

Each phase is bounded by `timeout` seconds: the TCP connect, the server's banner plus the key
exchange, the password login, and opening one session. Nothing is run on the machine. The
password goes to whatever answers at that address (there is no known host key to check it
against, as in BridgX); it is never logged, and a result never carries it.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

DEFAULT_PORT = 22
# paramiko logs failed logins at INFO and a silent peer as an ERROR traceback from its transport
# thread; each check's outcome is logged once below instead.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    address: str  # as given, the key of the result
    host: str
    port: int
    username: str
    password: str

    def __repr__(self) -> str:  # never the password, even in a traceback
        return f"Target({self.host!r}, {self.port}, {self.username!r})"


def parse_address(value: str) -> tuple[str, int]:
    """`10.0.0.5`, `10.0.0.5:2222`, `::1` or `[::1]:2222` → (host, port); ValueError otherwise.
    Only IP literals: a host name would need a DNS lookup we do not want to make on a caller's say."""
    value = value.strip()
    host, port = value, DEFAULT_PORT
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError("bad [IPv6]:port")
        if rest:
            port = _port(rest[1:])
    elif value.count(":") == 1:
        host, port_text = value.split(":")
        port = _port(port_text)
    ipaddress.ip_address(host)  # ValueError when it is not an IP address
    return host, port


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError("port must be 1-65535")
    return int(text)


def check_login(target: Target, timeout: float) -> tuple[bool, str]:
    """(passed, reason): reason is `ok` or a short, secret-free explanation. At most about
    5 × timeout: connect, banner, key exchange, login and session are each bounded."""
    # paramiko (about 9 MB) is imported by the API process that runs a check, not by every
    # process that builds the app (Celery workers and beat never log in anywhere).
    import paramiko
    client = paramiko.SSHClient()
    # The machines are new to us: there is no host key to compare with (BridgX ignores it too).
    # The key is kept only in this client, which is closed below; nothing is written anywhere.
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except ConnectionRefusedError:
        return False, f"connection refused (nothing listens on port {target.port})"
    except (socket.timeout, TimeoutError):
        return False, f"timed out after {timeout:g} s connecting (no answer from the address)"
    except OSError as exc:  # unreachable network or host
        return False, f"unreachable ({exc.strerror or type(exc).__name__})"
    try:
        # `timeout` here bounds banner + key exchange: twice the banner's, so a silent peer is
        # reported as such rather than as a generic negotiation failure
        client.connect(target.host, target.port, username=target.username, password=target.password, sock=sock,
                       timeout=2 * timeout, banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout,
                       allow_agent=False, look_for_keys=False)
        channel = client.get_transport().open_session(timeout=timeout)
        channel.close()
        return True, "ok"
    except paramiko.AuthenticationException:
        return False, "login refused: wrong login name or password"
    except paramiko.SSHException as exc:
        if "banner" in str(exc).lower():
            return False, f"no SSH banner within {timeout:g} s (not an SSH server, or it hangs)"
        return False, "SSH handshake or session failed"
    except (socket.timeout, TimeoutError):
        return False, f"timed out after {timeout:g} s during the SSH exchange"
    except (EOFError, OSError):
        return False, "the machine closed the connection during the SSH exchange"
    finally:
        client.close()
        sock.close()


def check_all(targets: list[Target], timeout: float, concurrency: int) -> list[tuple[bool, str]]:
    """check_login for every target, at most `concurrency` at once; results in the given order."""
    if not targets:
        return []

    def one(target: Target) -> tuple[bool, str]:
        try:
            passed, reason = check_login(target, timeout)
        except Exception:  # noqa: BLE001 - one odd machine must not fail the whole check
            log.exception("SSH check of %s:%s failed unexpectedly", target.host, target.port)
            passed, reason = False, "SSH check failed unexpectedly"
        log.info("SSH check %s:%s as %s: %s", target.host, target.port, target.username, reason)
        return passed, reason

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets))), thread_name_prefix="ssh-check") as pool:
        return list(pool.map(one, targets))
