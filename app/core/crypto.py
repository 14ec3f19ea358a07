"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under configured keys.

BRIDGX_ENCRYPTION_KEY may list several keys separated by commas: the first encrypts, all
decrypt, so keys can be rotated without re-encrypting first.
"""
from __future__ import annotations

from cryptography.fernet import Fernet, MultiFernet
from flask import current_app


def multi_fernet() -> MultiFernet:
    cache = current_app.extensions.setdefault("bridgx_fernet", {})
    keys = current_app.config["ENCRYPTION_KEYS"]
    if keys not in cache:
        cache.clear()
        cache[keys] = MultiFernet([Fernet(k.strip()) for k in keys.split(",") if k.strip()])
    return cache[keys]


def encrypt(plaintext: str) -> str:
    return multi_fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return multi_fernet().decrypt(token.encode()).decode()
