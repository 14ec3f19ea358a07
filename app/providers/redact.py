"""The one redaction layer for text that leaves a driver: error messages, codes, retry log lines,
task reasons.

Cloud SDKs put whatever they had at hand in their exceptions: a refused connection on Alibaba
quotes the whole signed request URL (`...&Password=...&Signature=...`), others quote headers or
request bodies. `redact` removes, whatever the SDK put there:

- every query string of a URL (`?Amount=1&Password=...` -> `?[redacted]`);
- the value of every sensitive-looking field (`Password=`, `"adminPass": "..."`, `Signature=`,
  `X-Amz-*`, `Authorization: ...`, `AccessKeySecret`, `SecurityToken`, ...), whatever the quoting;
- every value the caller knows to be secret (the account's secret key, the instance password),
  also in its URL-encoded and JSON-escaped forms.

No SDK import here: the drivers call it from `Provider.call` (base.py) on every error they raise.
"""
from __future__ import annotations

import json
import re
from typing import Iterable
from urllib.parse import quote, quote_plus

MASK = "[redacted]"

# A URL's query string: "?" then anything up to whitespace, a quote or a bracket.
_QUERY = re.compile(r"\?[^\s'\"<>(){}\[\]\\]+")

_NAMES = (r"[\w.-]*?(?:password|passwd|pwd|adminpass|admin_pass|secret|secretkey|secret_key|secret_access_key|"
          r"signature|authorization|securitytoken|security-token|security_token|sessiontoken|session_token|"
          r"session-token|privatekey|private_key|x-amz-[\w-]+)(?![\w-])")
# name, optional closing quote, separator (= or :), then a quoted or bare value.
_FIELD = re.compile(
    r"(?P<name>[\"']?" + _NAMES + r"[\"']?)(?P<sep>\s*[=:]\s*)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s&,;'\"(){}\[\]<>]+)",
    re.IGNORECASE)

_MIN_SECRET = 4  # shorter "secrets" would shred ordinary text; none of ours are that short


def _mask_field(match: re.Match) -> str:
    value = match["value"]
    quote_char = value[0] if value[:1] in ("'", '"') else ""
    return f"{match['name']}{match['sep']}{quote_char}{MASK}{quote_char}"


def _forms(value: str) -> set:
    """The ways a secret value may be written into a message."""
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1],
            value.encode("unicode_escape").decode("ascii", "replace")}


def redact(text, secrets: Iterable = ()) -> str:
    """`text` without query strings, sensitive field values, or any of `secrets`."""
    if text is None:
        return ""
    text = str(text)
    for secret in secrets:
        if secret and len(str(secret)) >= _MIN_SECRET:
            for form in sorted(_forms(str(secret)), key=len, reverse=True):
                text = text.replace(form, MASK)
    text = _QUERY.sub("?" + MASK, text)
    return _FIELD.sub(_mask_field, text)


def scrub(err, secrets: Iterable = ()):
    """Redact a CloudError in place (message, code, request id, args) and return it."""
    secrets = tuple(secrets)
    err.message = redact(err.message, secrets)
    err.code = redact(err.code, secrets)
    err.request_id = redact(err.request_id, secrets)
    err.args = (err.message,)
    return err
