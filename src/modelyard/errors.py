"""Domain errors. Each class carries a stable ``code`` (the HF one where it exists) and an HTTP ``status``.

Tree::

    HubError (500, "InternalError")
    ├── BadRequest (400, "BadRequest")
    │   ├── InvalidRepoName, InvalidPath (422), InvalidRevisionName, InvalidYaml, BadChecksum, BadPayload (422)
    ├── Unauthorized (401, "Unauthorized")
    ├── Forbidden (403, "Forbidden")
    │   ├── GatedRepo (403, 401 anonymous), TokenScope, CsrfTokenInvalid
    ├── NotFound (404, "NotFound")
    │   ├── RepoNotFound, RevisionNotFound, EntryNotFound, UserNotFound, BlobNotFound
    ├── Conflict (409, "Conflict")
    │   └── RepoExists (carries ``url``), RefExists, UnsafePickle
    ├── PreconditionFailed (412, "PreconditionFailed")
    ├── RangeNotSatisfiable (416)
    ├── TooLarge (413)
    ├── HeadersTooLarge (431)
    ├── Overloaded (429, carries ``retry_after``)
    │   └── RateLimited
    ├── Unavailable (503, carries ``estimated_time``)
    ├── InsufficientStorage (507)
    └── ConfigError (500)

This module imports nothing from modelyard.
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    code = "InternalError"
    status = 500

    def __init__(self, message: str = "", **extra: Any) -> None:
        super().__init__(message or self.__class__.__name__)
        self.message = message or self.__class__.__name__
        self.extra: dict[str, Any] = extra


class ConfigError(HubError):
    code = "ConfigError"


class BadRequest(HubError):
    code = "BadRequest"
    status = 400


class InvalidRepoName(BadRequest):
    code = "InvalidRepoName"


class InvalidRevisionName(BadRequest):
    code = "InvalidRevisionName"


class InvalidPath(BadRequest):
    code = "InvalidPath"
    status = 422


class BadPayload(BadRequest):
    code = "BadPayload"
    status = 422


class InvalidYaml(BadRequest):
    code = "InvalidYaml"


class FileNotEditable(BadRequest):
    """The web editor edits text files only: not LFS/Xet or binary files, not past its size cap."""

    code = "FileNotEditable"
    status = 422


class BadChecksum(BadRequest):
    code = "BadChecksum"


class Unauthorized(HubError):
    code = "Unauthorized"
    status = 401


class Forbidden(HubError):
    code = "Forbidden"
    status = 403


class GatedRepo(Forbidden):
    """Files of a gated repo without an accepted access request: 403, or 401 for an anonymous caller.
    `huggingface_hub` raises `GatedRepoError` on this code, whatever the status."""

    code = "GatedRepo"

    def __init__(self, message: str = "", anonymous: bool = False, **extra: Any) -> None:
        super().__init__(message, **extra)
        if anonymous:
            self.status = 401


class TokenScope(Forbidden):
    """A fine-grained (or read) token that lacks the permission for this action on this resource."""

    code = "TokenScope"


class CsrfTokenInvalid(Forbidden):
    """A web form POST without this browser's CSRF token (server/web/security.py)."""

    code = "CsrfTokenInvalid"


class NotFound(HubError):
    code = "NotFound"
    status = 404


class RepoNotFound(NotFound):
    code = "RepoNotFound"


class RevisionNotFound(NotFound):
    code = "RevisionNotFound"


class EntryNotFound(NotFound):
    code = "EntryNotFound"


class UserNotFound(NotFound):
    code = "UserNotFound"


class BlobNotFound(NotFound, FileNotFoundError):
    code = "BlobNotFound"


class Conflict(HubError):
    code = "Conflict"
    status = 409


class RepoExists(Conflict):
    code = "RepoExists"


class RefExists(Conflict):
    code = "RefExists"


class UnsafePickle(Conflict):
    """A model snapshot holds a pickle file scanned unsafe (or unscannable): endpoints refuse to load it unless
    the deployer allows it explicitly (hub/pickles.py)."""

    code = "UnsafePickle"


class PreconditionFailed(HubError):
    code = "PreconditionFailed"
    status = 412


class RangeNotSatisfiable(HubError):
    code = "RangeNotSatisfiable"
    status = 416


class TooLarge(HubError):
    code = "TooLarge"
    status = 413


class HeadersTooLarge(HubError):
    """The request line and headers exceed the configured size (HTTP 431)."""

    code = "RequestHeaderFieldsTooLarge"
    status = 431


class Overloaded(HubError):
    code = "Overloaded"
    status = 429


class RateLimited(Overloaded):
    """Too many requests for this token or client IP (HTTP 429, carries ``retry_after`` seconds)."""

    code = "RateLimited"


class Unavailable(HubError):
    code = "Unavailable"
    status = 503


class SpaceNotRunning(Unavailable):
    """A Space that is not running and cannot be woken by this request (paused, failed, still building past the
    wait): HTTP 503 with ``stage`` in the body, the Hub's stage name (spaces/runtime.py)."""

    code = "SpaceNotRunning"


class HardwareNotAvailable(BadRequest):
    """A Space or Job asked for hardware this machine does not have (only what `list_spaces_hardware` lists)."""

    code = "HardwareNotAvailable"


class JobImageNotSupported(BadRequest):
    """A job's image needs a container runtime this hub does not have (jobs/spec.py says which images run)."""

    code = "JobImageNotSupported"


class InsufficientStorage(HubError):
    """The data directory is full, or its free space is under the configured reserve (HTTP 507)."""

    code = "InsufficientStorage"
    status = 507


def all_error_classes() -> list[type[HubError]]:
    """Every HubError subclass (for contract tests and docs)."""
    out: list[type[HubError]] = []
    stack: list[type[HubError]] = [HubError]
    while stack:
        cls = stack.pop()
        out.append(cls)
        stack.extend(cls.__subclasses__())
    return out
