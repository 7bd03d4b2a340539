"""Xet errors, as subclasses of the hub's error tree so the server's single HubError handler maps them."""

from __future__ import annotations

from modelyard.errors import BadRequest, Forbidden, NotFound, RangeNotSatisfiable, Unauthorized


class XetFormatError(BadRequest, ValueError):
    """Malformed or unverifiable xorb, shard or chunk data (400)."""

    code = "XetBadObject"


class XetNotFound(NotFound):
    """Unknown xorb or file hash (404)."""

    code = "XetObjectNotFound"


class XetRangeError(RangeNotSatisfiable, ValueError):
    """Requested range starts at or past the end of the file (416)."""


class XetTokenError(Unauthorized):
    """Missing, malformed, forged or expired CAS token (401)."""

    code = "XetTokenInvalid"


class XetScopeError(Forbidden):
    """A read token was used for a write operation (403)."""

    code = "XetTokenScope"
