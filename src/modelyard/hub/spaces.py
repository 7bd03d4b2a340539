"""A Space's settings kept by the hub: sleep time, requested hardware, paused, secrets (encrypted at rest with
AES-GCM under a key derived from the server secret) and variables.

Owns the tables space_settings, space_secrets, space_variables (migration 0016).
INTERFACE STUB written by the lead: the helper owning this file implements it (keep the signatures).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.db import Database


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


class SpaceStore:
    def __init__(self, db: Database, key: bytes) -> None:
        self.db = db
        self.key = key  # 32 bytes: AES-GCM key of the secrets (settings.derived_key(b"space-secrets"))

    def get(self, repo_id: int) -> SpaceSettings:
        return SpaceSettings()

    def set_sleep_time(self, repo_id: int, seconds: int | None) -> None:
        raise NotImplementedError

    def set_paused(self, repo_id: int, paused: bool) -> None:
        raise NotImplementedError

    def set_hardware(self, repo_id: int, flavor: str) -> None:
        raise NotImplementedError

    def secrets(self, repo_id: int) -> dict[str, SecretInfo]:
        return {}

    def secret_values(self, repo_id: int) -> dict[str, str]:
        """Decrypted: for the app's environment only (never an API answer, page or log)."""
        return {}

    def add_secret(self, repo_id: int, key: str, value: str, description: str | None = None) -> None:
        raise NotImplementedError

    def delete_secret(self, repo_id: int, key: str) -> None:
        raise NotImplementedError

    def variables(self, repo_id: int) -> dict[str, VariableInfo]:
        return {}

    def add_variable(self, repo_id: int, key: str, value: str, description: str | None = None) -> None:
        raise NotImplementedError

    def delete_variable(self, repo_id: int, key: str) -> None:
        raise NotImplementedError

    def find_by_subdomain(self, sub: str) -> tuple[str, str] | None:
        """(ns, name) of the Space whose subdomain (spaces/urls.subdomain) is `sub` (wildcard spaces_url)."""
        return None
