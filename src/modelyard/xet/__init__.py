"""Xet storage protocol: CAS service (xorbs, shards, dedupe, reconstruction) for ``hf_xet`` clients.

Integration points (see docs/xet-protocol.md):

* ``XetService(db, store, secret, binding=...)``: ``issue_token``, ``lookup_by_sha256``, ``file_size``,
  ``sha256_of``, ``open_file``; ``binding`` (a ``ContentBinding``) says which repo holds which file: reads through
  the CAS need a token whose repo holds the file.
* ``modelyard.server.xet_cas.create_cas_app(service)``: the CAS HTTP app; ``modelyard.server.xet_routes``:
  token-endpoint responses and ``resolve`` headers.
"""

from modelyard.xet.errors import XetFormatError, XetNotFound, XetRangeError, XetScopeError, XetTokenError
from modelyard.xet.index import CasStats
from modelyard.xet.service import XetFile, XetService

__all__ = [
    "CasStats",
    "XetFile",
    "XetFormatError",
    "XetNotFound",
    "XetRangeError",
    "XetScopeError",
    "XetService",
    "XetTokenError",
]
