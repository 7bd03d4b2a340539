"""Options of `modelyard tokens create`: fine-grained permissions and expiry, turned into what hub.accounts takes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import click

from modelyard.hub.access import Grants

_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def grants_from_options(global_perms: Sequence[str], scopes: Sequence[str], can_read_gated: bool) -> Grants:
    """``--global PERM`` and ``--scope TYPE:NAME=PERM[,PERM]`` (repeatable; one entity's perms merge) as Grants.
    BadRequest (from Grants.parse) for an unknown permission or entity type."""
    merged: dict[tuple[str, str], list[str]] = {}
    for spec in scopes:
        entity, sep, perms = spec.partition("=")
        kind, colon, name = entity.partition(":")
        if not sep or not colon or not kind or not name or not perms:
            raise click.BadParameter(
                f"{spec!r}: expected TYPE:NAME=PERM[,PERM] (model:alice/x=repo.content.read)",
                param_hint="--scope",
            )
        merged.setdefault((kind, name), []).extend(p.strip() for p in perms.split(",") if p.strip())
    return Grants.parse(
        {
            "canReadGatedRepos": can_read_gated,
            "global": list(global_perms),
            "scoped": [
                {"entity": {"type": k, "name": n}, "permissions": sorted(set(p))}
                for (k, n), p in merged.items()
            ],
        }
    )


def expiry(expires_in: str | None, expires_at: str | None) -> datetime | None:
    """``--expires-in 30d`` (s, m, h, d, w) or ``--expires-at`` an ISO 8601 time (UTC unless it says)."""
    if expires_in and expires_at:
        raise click.UsageError("Give --expires-in or --expires-at, not both")
    if expires_in:
        m = _DURATION.match(expires_in.strip())
        if m is None:
            raise click.BadParameter(
                f"{expires_in!r}: a number and a unit s, m, h, d or w (30d)", param_hint="--expires-in"
            )
        return datetime.now(UTC) + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if expires_at:
        try:
            t = datetime.fromisoformat(expires_at.strip().replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(
                f"{expires_at!r} is not an ISO 8601 time", param_hint="--expires-at"
            ) from None
        return t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    return None
