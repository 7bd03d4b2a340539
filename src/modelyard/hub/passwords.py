"""Web login passwords: argon2id hashes (argon2-cffi's PasswordHasher), a length policy, constant-ish time checks.

Only the hash is stored (``accounts.password_hash``, owned by hub.accounts; this module holds no table). A login
for an unknown user verifies against a dummy hash, so it costs the same time as a wrong password and the answer
("Invalid username or password") is the same for both. A hash made with older parameters is re-hashed on the next
successful login (`needs_rehash`).
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from modelyard.errors import BadRequest

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 hashes any length, but a megabyte "password" is a denial of service, not a secret
_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (time_cost=3, 64 MiB, parallelism=4)


def check_policy(password: str, username: str = "") -> None:
    """BadRequest unless the password is MIN_LENGTH to MAX_LENGTH characters and is not the username."""
    if len(password) < MIN_LENGTH:
        raise BadRequest(f"The password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise BadRequest(f"The password must be at most {MAX_LENGTH} characters long")
    if username and password.strip().lower() == username.lower():
        raise BadRequest("The password must not be the username")


def hash_password(password: str, username: str = "") -> str:
    """The argon2id hash of a password that passes `check_policy`."""
    check_policy(password, username)
    return _HASHER.hash(password)


def rehash(password: str) -> str:
    """A fresh hash of a password that just verified (today's parameters; no policy check: it is not new)."""
    return _HASHER.hash(password)


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("modelyard: no such user, same cost")


def verify(stored: str | None, password: str) -> bool:
    """Whether `password` matches the stored hash. With no hash (unknown user, or no password set) a dummy hash is
    verified instead, so the time taken does not tell whether the user exists."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        if not stored:
            _HASHER.verify(_dummy_hash(), password)
            return False
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a hash was made with other parameters than today's (re-hash it after a successful login)."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True
