"""A Space's settings kept by the hub: sleep time, requested hardware, paused, secrets (encrypted at rest with
AES-GCM under a key derived from the server secret) and variables.

Owns the tables space_settings, space_secrets, space_variables (migration 0016). Rows are keyed by repo id: a
rename keeps them, deleting the repo drops them (foreign keys ON DELETE CASCADE).

Secrets and variables become the app's environment. Their keys are environment variable names
(`KEY_PATTERN`), never one the hub sets itself or one that changes how a program starts (`reserved`); a key is
either a secret or a variable, not both. A secret's value is encrypted with the repo id and the key as associated
data (a ciphertext moved to another row or Space does not decrypt); only `secret_values` returns it, for the
app's environment: never an API answer, a page or a log line.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from modelyard.db import Database
from modelyard.db.cache import VersionedCache
from modelyard.db.schema import repos, space_secrets, space_settings, space_variables
from modelyard.errors import BadRequest
from modelyard.hub._time import iso, now

log = logging.getLogger("modelyard.spaces")

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: names the hub sets for the app (or that change how its programs start): refused as secret or variable keys,
#: compared in upper case
RESERVED_NAMES = frozenset(
    {
        "HF_ENDPOINT",
        "SPACE_ID",
        "SPACE_HOST",
        "SPACE_AUTHOR_NAME",
        "SPACE_REPO_NAME",
        "SPACE_TITLE",
        "SPACE_CREATOR_USER_ID",
        "SYSTEM",
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "PWD",
        "TMPDIR",
        "PORT",
        "VIRTUAL_ENV",
    }
)
#: prefixes of reserved names (upper case): the interpreter, the dynamic loader, the frameworks' own settings
#: (the hub sets their server port, address and root path), uv, the hub's own
RESERVED_PREFIXES = ("PYTHON", "LD_", "GRADIO_", "STREAMLIT_", "UV_", "MODELYARD_")
MAX_VALUE_BYTES = 64 * 1024
MAX_DESCRIPTION = 1000
MAX_ENTRIES = 100  # secrets, and variables, per Space
SECRETS_AAD = b"modelyard space secret"
_NONCE = 12


@dataclass(frozen=True)
class SpaceSettings:
    sleep_time: int | None = None  # seconds; None: the server default (spaces_sleep_time); -1: never sleeps
    hardware: str = "cpu-basic"  # requested flavour
    paused: bool = False
    dev_mode: bool = False


@dataclass(frozen=True)
class SecretInfo:
    description: str | None
    updated_at: str  # ISO 8601


@dataclass(frozen=True)
class VariableInfo:
    value: str
    description: str | None
    updated_at: str  # ISO 8601


def reserved(key: str) -> bool:
    up = key.upper()
    return up in RESERVED_NAMES or up.startswith(RESERVED_PREFIXES)


def _shown(key: object) -> str:
    """A key as an error message names it: short, printable."""
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."


def check_key(key: object) -> str:
    """The key if it may be a secret or variable key; BadRequest (saying why) otherwise."""
    if not isinstance(key, str) or not key:
        raise BadRequest("'key' must be a non-empty string")
    if not KEY_PATTERN.match(key):
        raise BadRequest(
            f"Invalid key {_shown(key)}: letters, digits and '_', not starting with a digit, at most 128 characters"
        )
    if reserved(key):
        raise BadRequest(
            f"Invalid key {_shown(key)}: reserved (the hub sets it, or it changes how the app starts); reserved are "
            f"{', '.join(sorted(RESERVED_NAMES))} and names starting with {', '.join(RESERVED_PREFIXES)}"
        )
    return key


def check_value(value: object) -> str:
    if not isinstance(value, str):
        raise BadRequest("'value' must be a string")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise BadRequest(f"'value' is too long: at most {MAX_VALUE_BYTES // 1024} KiB")
    if "\x00" in value:
        raise BadRequest("'value' may not contain a NUL character (it becomes an environment variable)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("'value' must be valid Unicode text") from None
    return value


def check_description(description: object) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        raise BadRequest("'description' must be a string")
    if len(description) > MAX_DESCRIPTION:
        raise BadRequest(f"'description' is too long: at most {MAX_DESCRIPTION} characters")
    try:
        description.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("'description' must be valid Unicode text") from None
    return description


def _subdomain_sql() -> Any:
    """spaces/urls.subdomain in SQL: lower("{ns}-{name}") with '.' and '_' as '-'."""
    joined = repos.c.namespace + "-" + repos.c.name
    return func.lower(func.replace(func.replace(joined, ".", "-"), "_", "-"))


class SpaceStore:
    def __init__(self, db: Database, key: bytes) -> None:
        self.db = db
        self.key = key  # 32 bytes: AES-GCM key of the secrets (settings.derived_key(b"space-secrets"))
        self._aead = AESGCM(key)
        # settings rows by repo id: the supervisor and every space_info read them (db/cache.py: never stale)
        self._settings: VersionedCache[int, SpaceSettings] = VersionedCache(self.db)

    # --- settings -----------------------------------------------------------------------------------
    def get(self, repo_id: int) -> SpaceSettings:
        return self._settings.get_or_load(repo_id, lambda: self._load(repo_id))

    def _load(self, repo_id: int) -> SpaceSettings:
        with self.db.read() as conn:
            row = conn.execute(select(space_settings).where(space_settings.c.repo_id == repo_id)).first()
        if row is None:
            return SpaceSettings()
        return SpaceSettings(
            sleep_time=row.sleep_time,
            hardware=row.hardware,
            paused=bool(row.paused),
            dev_mode=bool(row.dev_mode),
        )

    def _set(self, repo_id: int, **values: Any) -> None:
        with self.db.transaction() as conn:
            values["updated_at"] = now()
            done = conn.execute(
                update(space_settings).where(space_settings.c.repo_id == repo_id).values(**values)
            ).rowcount
            if not done:
                row: dict[str, Any] = {"sleep_time": None, "hardware": "cpu-basic", "paused": False}
                row.update(dev_mode=False, **values)
                conn.execute(insert(space_settings).values(repo_id=repo_id, **row))
        self._settings.clear()  # where the database has no version (PostgreSQL) nothing is cached anyway

    def set_sleep_time(self, repo_id: int, seconds: int | None) -> None:
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < -1 or seconds > 2**31 - 1
        ):
            raise BadRequest("Invalid sleep time: whole seconds, -1 for never")
        self._set(repo_id, sleep_time=seconds)

    def set_paused(self, repo_id: int, paused: bool) -> None:
        self._set(repo_id, paused=bool(paused))

    def set_hardware(self, repo_id: int, flavor: str) -> None:
        if not isinstance(flavor, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", flavor):
            raise BadRequest(f"Invalid hardware flavor {_shown(flavor)}")
        self._set(repo_id, hardware=flavor)

    # --- secrets ------------------------------------------------------------------------------------
    @staticmethod
    def _aad(repo_id: int, key: str) -> bytes:
        return b"%s\x00%d\x00%s" % (SECRETS_AAD, repo_id, key.encode())

    def secrets(self, repo_id: int) -> dict[str, SecretInfo]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(space_secrets.c.key, space_secrets.c.description, space_secrets.c.updated_at)
                .where(space_secrets.c.repo_id == repo_id)
                .order_by(space_secrets.c.key)
            ).all()
        return {r.key: SecretInfo(r.description, _iso(r.updated_at)) for r in rows}

    def secret_values(self, repo_id: int) -> dict[str, str]:
        """Decrypted: for the app's environment only (never an API answer, page or log). A secret that no longer
        decrypts (the server secret changed) is left out."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(space_secrets.c.key, space_secrets.c.nonce, space_secrets.c.ciphertext).where(
                    space_secrets.c.repo_id == repo_id
                )
            ).all()
        out: dict[str, str] = {}
        for r in rows:
            try:
                plain = self._aead.decrypt(bytes(r.nonce), bytes(r.ciphertext), self._aad(repo_id, r.key))
            except InvalidTag:  # the key name only, never a value
                log.warning(
                    "secret %s of Space %d does not decrypt (the server secret changed?)", r.key, repo_id
                )
                continue
            out[r.key] = plain.decode("utf-8")
        return out

    def add_secret(self, repo_id: int, key: str, value: str, description: str | None = None) -> None:
        """Add or replace a secret (a replaced one keeps its description unless a new one is given)."""
        key, value, description = check_key(key), check_value(value), check_description(description)
        nonce = os.urandom(_NONCE)
        ciphertext = self._aead.encrypt(nonce, value.encode("utf-8"), self._aad(repo_id, key))
        with self.db.transaction() as conn:
            self._no_clash(conn, repo_id, key, space_variables, "a variable")
            at = now()
            values: dict[str, Any] = {"nonce": nonce, "ciphertext": ciphertext, "updated_at": at}
            if description is not None:
                values["description"] = description
            done = conn.execute(
                update(space_secrets)
                .where(space_secrets.c.repo_id == repo_id, space_secrets.c.key == key)
                .values(**values)
            ).rowcount
            if not done:
                self._room(conn, repo_id, space_secrets, "secrets")
                values["description"] = description
                conn.execute(insert(space_secrets).values(repo_id=repo_id, key=key, **values))

    def delete_secret(self, repo_id: int, key: str) -> None:
        """Idempotent: deleting a key that is not there does nothing (as on the Hub)."""
        if not isinstance(key, str):
            raise BadRequest("'key' must be a string")
        with self.db.transaction() as conn:
            conn.execute(
                delete(space_secrets).where(space_secrets.c.repo_id == repo_id, space_secrets.c.key == key)
            )

    # --- variables ----------------------------------------------------------------------------------
    def variables(self, repo_id: int) -> dict[str, VariableInfo]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(space_variables)
                .where(space_variables.c.repo_id == repo_id)
                .order_by(space_variables.c.key)
            ).all()
        return {r.key: VariableInfo(r.value, r.description, _iso(r.updated_at)) for r in rows}

    def add_variable(self, repo_id: int, key: str, value: str, description: str | None = None) -> None:
        """Add or replace a variable (a replaced one keeps its description unless a new one is given)."""
        key, value, description = check_key(key), check_value(value), check_description(description)
        with self.db.transaction() as conn:
            self._no_clash(conn, repo_id, key, space_secrets, "a secret")
            values: dict[str, Any] = {"value": value, "updated_at": now()}
            if description is not None:
                values["description"] = description
            done = conn.execute(
                update(space_variables)
                .where(space_variables.c.repo_id == repo_id, space_variables.c.key == key)
                .values(**values)
            ).rowcount
            if not done:
                self._room(conn, repo_id, space_variables, "variables")
                values["description"] = description
                conn.execute(insert(space_variables).values(repo_id=repo_id, key=key, **values))

    def delete_variable(self, repo_id: int, key: str) -> None:
        """Idempotent: deleting a key that is not there does nothing (as on the Hub)."""
        if not isinstance(key, str):
            raise BadRequest("'key' must be a string")
        with self.db.transaction() as conn:
            conn.execute(
                delete(space_variables).where(
                    space_variables.c.repo_id == repo_id, space_variables.c.key == key
                )
            )

    @staticmethod
    def _no_clash(conn: Connection, repo_id: int, key: str, other: Any, what: str) -> None:
        hit = conn.execute(select(other.c.key).where(other.c.repo_id == repo_id, other.c.key == key)).first()
        if hit is not None:
            raise BadRequest(f"Invalid key {_shown(key)}: already {what} of this Space (delete it first)")

    @staticmethod
    def _room(conn: Connection, repo_id: int, table: Any, what: str) -> None:
        n = conn.execute(
            select(func.count()).select_from(table).where(table.c.repo_id == repo_id)
        ).scalar_one()
        if n >= MAX_ENTRIES:
            raise BadRequest(f"Too many {what}: at most {MAX_ENTRIES} per Space")

    # --- copies and lookups -------------------------------------------------------------------------
    def copy_variables(self, src_id: int, dst_id: int) -> None:
        """`duplicate_repo` of a Space: the variables come along (secret values never do, as on the Hub)."""
        for key, v in self.variables(src_id).items():
            self.add_variable(dst_id, key, v.value, v.description)

    def find_by_subdomain(self, sub: str) -> tuple[str, str] | None:
        """(ns, name) of the Space whose subdomain (spaces/urls.subdomain) is `sub` (wildcard spaces_url).
        Two Spaces may share one (`a-b/c` and `a/b-c`): the oldest keeps it, so a newer one cannot take it over."""
        if not re.fullmatch(r"[a-z0-9-]{1,250}", sub):
            return None
        with self.db.read() as conn:
            row = conn.execute(
                select(repos.c.namespace, repos.c.name)
                .where(repos.c.type == "space", _subdomain_sql() == sub)
                .order_by(repos.c.id)
                .limit(1)
            ).first()
        return (row.namespace, row.name) if row else None


def _iso(at: datetime) -> str:
    return iso(at) or ""
