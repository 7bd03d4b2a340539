"""Hub events: what changed in a repo or a discussion, told to a sink after the change is committed.

Repos, Files and Pulls call `EventSink.emit` after their transaction commits (never inside it, so a failed
commit tells nothing and a slow sink holds no lock). The sinks (a `FanOut`) are `hub.webhooks.Webhooks`, which
queues deliveries, and `hub.pickles.PickleScans`, which queues scans of new pickle files; `emit` must not raise
(the change already happened).

Scopes (the Hub's `event.scope`): ``repo`` (create, delete, move), ``repo.content`` (a ref moved: commits, merges,
branches, tags; `refs` says which), ``repo.config`` (visibility or gating), ``discussion`` (create, status or title
update) and ``discussion.comment`` (create). The domain a webhook filters on is the part before the dot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from modelyard.hub.discussions import Discussion, Event
    from modelyard.hub.repos import Repo


@dataclass(frozen=True)
class RefUpdate:
    ref: str  # full name: refs/heads/main, refs/tags/v1, refs/pr/3
    old_sha: str | None
    new_sha: str | None


@dataclass(frozen=True)
class HubEvent:
    scope: str
    action: str  # create | delete | update | move
    repo: Repo  # as after the change (as before it for delete and move)
    refs: tuple[RefUpdate, ...] = ()
    discussion: Discussion | None = None
    comment: Event | None = None
    moved_to: str | None = None  # "ns/name" after a move

    @property
    def domain(self) -> str:
        return self.scope.split(".", 1)[0]


class EventSink(Protocol):
    def emit(self, event: HubEvent) -> None: ...


class NoEvents:
    """The sink of services built without webhooks (tools, tests of one service)."""

    def emit(self, event: HubEvent) -> None:
        return None


class FanOut:
    """Tells every sink, in order (webhooks, then pickle scans); one sink failing does not stop the others."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = list(sinks)

    def emit(self, event: HubEvent) -> None:
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception:  # emit must not raise: the change already happened
                logging.getLogger("modelyard.events").exception("event sink %r failed", sink)


def branch_ref(kind: str, name: str) -> str:
    """The full ref name of a (kind, name) pair from `revisions.parse_branch`."""
    return {"branch": "refs/heads/", "tag": "refs/tags/", "pr": "refs/pr/"}.get(kind, "refs/") + name
