"""CAS access tokens and signed xorb-fetch URLs (HMAC-SHA256 over a server secret).

A token is ``xet1.<payload>.<sig>`` where payload is base64url JSON ``{"r": repo_key, "s": scope, "e": exp}``.
The client treats it as opaque; it only sends it back as ``Authorization: Bearer``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Literal

from modelyard.xet.errors import XetScopeError, XetTokenError

Scope = Literal["read", "write"]
_PREFIX = "xet1"


@dataclass(frozen=True)
class Claims:
    repo_key: str
    scope: Scope
    exp: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Signer:
    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        if not raw:
            raise ValueError("XetService needs a non-empty secret")
        # Separate keys so a token can never be replayed as a URL signature and vice versa.
        self._token_key = hmac.new(raw, b"modelyard-xet-token", hashlib.sha256).digest()
        self._url_key = hmac.new(raw, b"modelyard-xet-url", hashlib.sha256).digest()

    def issue(self, repo_key: str, scope: Scope, ttl_s: int) -> tuple[str, int]:
        exp = int(time.time()) + ttl_s
        payload = _b64(json.dumps({"r": repo_key, "s": scope, "e": exp}, separators=(",", ":")).encode())
        sig = _b64(hmac.new(self._token_key, f"{_PREFIX}.{payload}".encode(), hashlib.sha256).digest())
        return f"{_PREFIX}.{payload}.{sig}", exp

    def verify(self, token: str, need: Scope) -> Claims:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise XetTokenError("malformed Xet token")
        expected = _b64(hmac.new(self._token_key, f"{_PREFIX}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            raise XetTokenError("invalid Xet token signature")
        try:
            data = json.loads(_unb64(parts[1]))
            claims = Claims(str(data["r"]), data["s"], int(data["e"]))
        except (ValueError, KeyError, TypeError):
            raise XetTokenError("malformed Xet token payload") from None
        if claims.exp < time.time():
            raise XetTokenError("Xet token expired")
        if claims.scope not in ("read", "write"):
            raise XetTokenError("unknown Xet token scope")
        if need == "write" and claims.scope != "write":
            raise XetScopeError("this operation needs a write token")
        return claims

    def sign_url(self, xorb_hex: str, exp: int) -> str:
        return _b64(hmac.new(self._url_key, f"{xorb_hex}:{exp}".encode(), hashlib.sha256).digest())

    def check_url(self, xorb_hex: str, exp: str, sig: str) -> bool:
        if not exp.isdigit() or int(exp) < time.time():
            return False
        return hmac.compare_digest(self.sign_url(xorb_hex, int(exp)), sig)
