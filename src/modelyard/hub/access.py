"""The access model: token roles and fine-grained permissions, org member roles. Pure rules, no I/O.

Two things decide whether a call may do something:

1. **What the account may do** (its role in the namespace): a user is ``admin`` of their own namespace; an org member
   is ``read`` (read private repos, open discussions and pull requests), ``contributor`` (also create repos, and
   write to the repos they created), ``write`` (write to, delete and configure every repo of the org) or ``admin``
   (also manage members and org settings). Others have no role: public content only.
2. **What the token may do** (`Grants`): a ``read`` token has every ``*.read`` permission, a ``write`` token every
   permission, a ``fineGrained`` token only those it lists, globally or scoped to a namespace (``user``/``org``
   entity) or to one repo, bucket, collection or endpoint, in the Hub's ``fineGrained`` shape.

An action needs both. Repos apply them in hub/repos.py (`can_read`, `can_write`, `can_manage`,
`Repos.get_for_download` with the gate); every other resource calls `Principal.require` with the permission.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import BadRequest


class Perm:
    """The Hub's fine-grained permission names."""

    REPO_CONTENT_READ = "repo.content.read"
    REPO_ACCESS_READ = "repo.access.read"  # see and handle access requests of gated repos
    REPO_WRITE = "repo.write"
    DISCUSSION_WRITE = "discussion.write"
    COLLECTION_READ = "collection.read"
    COLLECTION_WRITE = "collection.write"
    WEBHOOKS_READ = "user.webhooks.read"
    WEBHOOKS_WRITE = "user.webhooks.write"
    JOB_WRITE = "job.write"
    ENDPOINTS_WRITE = "inference.endpoints.write"  # create, update, pause, delete endpoints
    ENDPOINTS_INFER = "inference.endpoints.infer.write"  # call endpoints
    ORG_READ = "org.read"  # org settings, members, audit log
    ORG_WRITE = "org.write"  # manage members and org settings


ALL_PERMS = frozenset(v for k, v in vars(Perm).items() if k.isupper())
READ_PERMS = frozenset(p for p in ALL_PERMS if p.endswith(".read"))
TOKEN_ROLES = ("read", "write", "fineGrained")
ORG_ROLES = ("read", "contributor", "write", "admin")
#: entity types a fine-grained permission can be scoped to
ENTITY_KINDS = frozenset({"user", "org", "model", "dataset", "space", "bucket", "collection", "endpoint"})
_RANK = {r: i for i, r in enumerate(ORG_ROLES)}


def role_at_least(role: str | None, minimum: str) -> bool:
    """Whether an org role is `minimum` or above (read < contributor < write < admin); None is no role."""
    return role is not None and _RANK.get(role, -1) >= _RANK[minimum]


@dataclass(frozen=True)
class Scoped:
    """Permissions on one entity: a namespace (``user``/``org``: everything in it) or one resource."""

    kind: str
    name: str  # "alice" for a namespace; "alice/model-x" for a repo, bucket, endpoint; a collection slug
    perms: frozenset[str]

    def covers(self, kind: str, namespace: str, name: str | None) -> bool:
        if self.kind in ("user", "org"):
            return self.name.lower() == namespace.lower()
        return name is not None and self.kind == kind and self.name.lower() == f"{namespace}/{name}".lower()


@dataclass(frozen=True)
class Grants:
    """What a token may do (see module docstring)."""

    role: str = "write"
    can_read_gated: bool = True
    global_perms: frozenset[str] = frozenset()
    scoped: tuple[Scoped, ...] = field(default=())

    def allows(self, perm: str, kind: str, namespace: str, name: str | None = None) -> bool:
        if self.role == "write":
            return True
        if self.role == "read":
            return perm in READ_PERMS
        if perm in self.global_perms:
            return True
        return any(perm in s.perms and s.covers(kind, namespace, name) for s in self.scoped)

    def to_json(self) -> dict[str, Any]:
        """The Hub's ``auth.accessToken.fineGrained`` object."""
        return {
            "canReadGatedRepos": self.can_read_gated,
            "global": sorted(self.global_perms),
            "scoped": [
                {"entity": {"type": s.kind, "name": s.name}, "permissions": sorted(s.perms)}
                for s in self.scoped
            ],
        }

    @classmethod
    def parse(cls, data: object) -> Grants:
        """A fine-grained token's grants from the Hub's shape; BadRequest on anything else."""
        if not isinstance(data, dict):
            raise BadRequest("fineGrained must be an object with 'global', 'scoped' and 'canReadGatedRepos'")
        gated = data.get("canReadGatedRepos", False)
        if not isinstance(gated, bool):
            raise BadRequest("fineGrained.canReadGatedRepos must be true or false")
        scoped_raw = data.get("scoped", [])
        if not isinstance(scoped_raw, list) or len(scoped_raw) > 200:
            raise BadRequest("fineGrained.scoped must be a list of at most 200 entries")
        scoped: list[Scoped] = []
        for item in scoped_raw:
            entity = item.get("entity") if isinstance(item, dict) else None
            if not isinstance(entity, dict):
                raise BadRequest(
                    "each fineGrained.scoped entry needs an 'entity' {type, name} and 'permissions'"
                )
            kind, name = entity.get("type"), entity.get("name")
            if kind not in ENTITY_KINDS or not isinstance(name, str) or not name or len(name) > 250:
                raise BadRequest(
                    f"Invalid entity {entity!r}: type is one of {', '.join(sorted(ENTITY_KINDS))}, name a string"
                )
            if (kind in ("user", "org")) == ("/" in name):
                raise BadRequest(f"Invalid entity name {name!r} for type {kind!r}")
            scoped.append(Scoped(kind, name, _perms(item.get("permissions"), "scoped permissions")))
        return cls("fineGrained", gated, _perms(data.get("global", []), "global"), tuple(scoped))

    def dumps(self) -> dict[str, Any] | None:
        """What the tokens table stores (None for plain read/write tokens)."""
        return self.to_json() if self.role == "fineGrained" else None

    @classmethod
    def load(cls, role: str, stored: dict[str, Any] | None) -> Grants:
        if role != "fineGrained":
            return cls(role)
        return cls.parse(stored or {})


def _perms(value: object, what: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise BadRequest(f"fineGrained {what} must be a list of permission names")
    unknown = sorted(set(value) - ALL_PERMS)
    if unknown:
        raise BadRequest(f"Unknown permission(s) {', '.join(unknown)}: one of {', '.join(sorted(ALL_PERMS))}")
    return frozenset(value)
