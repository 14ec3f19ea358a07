"""The operator's allow-list of cloud endpoint overrides (BRIDGX_ENDPOINT_ALLOWLIST).

An account's `endpoint` sends every call of that account (signed with its keys) to that URL.
Left to tenants, it is a server-side request forgery tool (metadata services, localhost, private
ranges). So an override must match an entry the operator listed; with an empty list (the
default) no account may have one and every call goes to the cloud's own HTTPS endpoints.

Entries, comma or whitespace separated:
- `https://ecs.example.com:8443`: that scheme, host and port;
- `http://127.0.0.1`: that scheme and host, any port (the local emulator of the test suite);
- `proxy.example.com`: that host over https, any port.
Plain http is allowed only where an entry says `http://`: every real cloud endpoint is HTTPS.
"""
from __future__ import annotations

import re
from typing import NamedTuple, Optional
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}

# A region or zone id as the five clouds spell them (cn-hangzhou, us-east-1a, cn-north-4a, bj,
# cn-bj-a, ap-guangzhou-3): drivers build host names from regions, so nothing else may reach one.
LOCATION = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


class Entry(NamedTuple):
    scheme: str
    host: str
    port: Optional[int]  # None: any port


def _split(url: str) -> tuple[str, str, Optional[int]]:
    parts = urlsplit(url if "://" in url else "https://" + url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password \
            or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"not a cloud endpoint (scheme://host[:port]): {url!r}")
    return scheme, parts.hostname.lower(), parts.port


def parse_allowlist(text: Optional[str]) -> tuple[Entry, ...]:
    """Entries from the setting's text; ValueError naming a malformed entry."""
    entries = []
    for item in (text or "").replace(",", " ").split():
        scheme, host, port = _split(item)
        entries.append(Entry(scheme, host, port))
    return tuple(entries)


def allowed(endpoint: str, allowlist: tuple[Entry, ...]) -> bool:
    """Whether an account may use `endpoint` under this allow-list."""
    try:
        scheme, host, port = _split(endpoint)
    except ValueError:
        return False
    port = port or _DEFAULT_PORTS[scheme]
    return any(e.scheme == scheme and e.host == host and (e.port is None or e.port == port)
               for e in allowlist)


def with_entry(text: Optional[str], url: str) -> str:
    """The setting's text with `url` added (the demo adds its emulator this way)."""
    parse_allowlist(url)
    return f"{text},{url}" if text else url
