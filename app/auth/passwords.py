"""The password policy for user accounts, the same on every path that sets one (API, manage.py)."""
from __future__ import annotations

MIN_LENGTH, MAX_LENGTH = 8, 128
POLICY = (f"{MIN_LENGTH} to {MAX_LENGTH} characters with at least three of: upper case, lower case, "
          "digit, other character; not the username")


def problem(password: str, username: str | None = None) -> str | None:
    """Why `password` breaks the policy, or None when it is acceptable."""
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long"
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        return "must not contain control characters"
    classes = [any(c.isupper() for c in password), any(c.islower() for c in password),
               any(c.isdigit() for c in password), any(not c.isalnum() for c in password)]
    if sum(classes) < 3:
        return "needs at least three of: upper case, lower case, digit, other character"
    if username and password.lower() == username.lower():
        return "must not be the username"
    return None
