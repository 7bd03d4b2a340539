"""CAS access tokens and signed xorb-fetch URLs (HMAC-SHA256 over a server secret).

A token is ``xet1.<payload>.<sig>`` where payload is base64url JSON ``{"r": repo_key, "s": scope, "e": exp,
"t": issued_at}`` plus ``"i": repo_id`` when the hub issued it and ``"u": user_id`` when a user asked for it. Content binding uses the id (a key can be renamed
and reused) together with ``t`` (a repo created after the token was issued is another repo, even if a database
reused the id). The client treats it as opaque; it only sends it back as ``Authorization: Bearer``.

Xorb fetch URLs are signed for one xorb and one inclusive byte window (``?r=start-end``): a xorb can hold
chunks of other files, so a URL opens only the bytes of the reconstruction it was issued in.
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
    repo_id: int | None = None
    issued_at: int = 0  # unix seconds: a repo created after this is not the one the token was issued for
    user_id: int | None = None  # the user it was issued to: gated repos check its access at each read


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
        self._grant_key = hmac.new(raw, b"modelyard-xet-grant", hashlib.sha256).digest()

    def issue(
        self, repo_key: str, scope: Scope, ttl_s: int, repo_id: int | None = None, user_id: int | None = None
    ) -> tuple[str, int]:
        issued = int(time.time())
        exp = issued + ttl_s
        claims: dict[str, object] = {"r": repo_key, "s": scope, "e": exp, "t": issued}
        if repo_id is not None:
            claims["i"] = repo_id
        if user_id is not None:
            claims["u"] = user_id
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
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
            rid, uid = data.get("i"), data.get("u")
            claims = Claims(
                str(data["r"]),
                data["s"],
                int(data["e"]),
                None if rid is None else int(rid),
                int(data.get("t", 0)),
                None if uid is None else int(uid),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise XetTokenError("malformed Xet token payload") from None
        if claims.exp < time.time():
            raise XetTokenError("Xet token expired")
        if claims.scope not in ("read", "write"):
            raise XetTokenError("unknown Xet token scope")
        if need == "write" and claims.scope != "write":
            raise XetScopeError("this operation needs a write token")
        return claims

    def sign_url(self, xorb_hex: str, start: int, end: int, exp: int) -> str:
        """Signature of a fetch URL for bytes ``[start, end]`` (inclusive, as ``url_range``) of a stored xorb."""
        msg = f"{xorb_hex}:{start}-{end}:{exp}".encode()
        return _b64(hmac.new(self._url_key, msg, hashlib.sha256).digest())

    def check_url(self, xorb_hex: str, rng: str, exp: str, sig: str) -> tuple[int, int] | None:
        """The signed inclusive byte window ``(start, end)`` of a valid, unexpired URL, else None."""
        start, _, end = rng.partition("-")
        if not (exp.isdigit() and start.isdigit() and end.isdigit()) or int(exp) < time.time():
            return None
        if not hmac.compare_digest(self.sign_url(xorb_hex, int(start), int(end), int(exp)), sig):
            return None
        return int(start), int(end)

    def sign_grant(self, xorb_hex: str, length: int, exp: int) -> str:
        """A xorb upload grant id (``exp.length.sig``): the credential of the upload URL for exactly this xorb and
        length, until ``exp``. The xorb's bytes are still verified against its hash when they arrive."""
        msg = f"grant:{xorb_hex}:{length}:{exp}".encode()
        return f"{exp}.{length}.{_b64(hmac.new(self._grant_key, msg, hashlib.sha256).digest())}"

    def check_grant(self, xorb_hex: str, grant: str) -> int | None:
        """The length a valid, unexpired grant id allows for this xorb, else None."""
        exp, _, rest = grant.partition(".")
        length, _, _sig = rest.partition(".")
        if not (exp.isdigit() and length.isdigit()) or int(exp) < time.time():
            return None
        if not hmac.compare_digest(self.sign_grant(xorb_hex, int(length), int(exp)), grant):
            return None
        return int(length)
