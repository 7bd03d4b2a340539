"""Where a running Space is served: never on the hub's origin (its session cookie must never reach Space code).

- Default (`spaces_url` empty): a second listener, `http://{host}:{spaces_port}`, each Space under
  `/spaces/{ns}/{name}/` (the app sees that prefix as its root path). Spaces share that origin among themselves.
- Wildcard (`spaces_url = "https://*.spaces.example.org"`): each Space at the root of its own host
  `{ns}-{name}.spaces.example.org` (lower case, `_` and `.` as `-`), like the Hub's `*.hf.space`: one origin each.
- A fixed URL (`spaces_url = "https://spaces.example.org"`): like the default, behind your own reverse proxy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

PATH_PREFIX = "/spaces/"
_PATH = re.compile(r"^/spaces/([A-Za-z0-9][A-Za-z0-9._-]*)/([A-Za-z0-9][A-Za-z0-9._-]*)(/.*)?$")


def subdomain(ns: str, name: str) -> str:
    """The Hub's space subdomain: `{ns}-{name}`, lower case, `_` and `.` replaced by `-`."""
    return re.sub(r"[._]", "-", f"{ns}-{name}").lower()


@dataclass
class SpaceUrls:
    spaces_url: str = ""  # the setting
    origin: str = ""  # the default listener's origin, once bound ("http://127.0.0.1:8081")

    @property
    def wildcard(self) -> bool:
        return "*" in self.spaces_url

    def base(self) -> str:
        if self.spaces_url and not self.wildcard:
            return self.spaces_url.rstrip("/")
        return self.origin.rstrip("/")

    def prefix(self, ns: str, name: str) -> str:
        """The root path the app is served under ("" in wildcard mode)."""
        return "" if self.wildcard else f"/spaces/{ns}/{name}"

    def host(self, ns: str, name: str) -> str:
        """The Space's public URL without a trailing slash: the `host` of `GET /api/spaces/{id}`."""
        if self.wildcard:
            parts = urlsplit(self.spaces_url)
            return f"{parts.scheme}://{parts.netloc.replace('*', subdomain(ns, name), 1)}"
        return f"{self.base()}/spaces/{ns}/{name}"

    def match_path(self, path: str) -> tuple[str, str, str] | None:
        """(ns, name, rest) of a request path on the default or fixed origin; rest starts with "/" or is ""."""
        m = _PATH.match(path)
        if m is None:
            return None
        return m.group(1), m.group(2), m.group(3) or ""

    def match_host(self, host: str) -> str | None:
        """The subdomain of a request Host in wildcard mode (None: not a Space host)."""
        if not self.wildcard:
            return None
        pattern = urlsplit(self.spaces_url).netloc
        left, _, right = pattern.partition("*")
        host = host.lower()
        if (
            host.startswith(left.lower())
            and host.endswith(right.lower())
            and len(host) > len(left) + len(right)
        ):
            sub = host[len(left) : len(host) - len(right)]
            return sub if re.fullmatch(r"[a-z0-9-]+", sub) else None
        return None
