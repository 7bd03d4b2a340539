"""The Hub's webhook payload (version 3, as `huggingface_hub.WebhookPayload` parses it) for a `HubEvent`.

Ids: repos, accounts and comments have integer ids here, sent as strings; a discussion's id is
"<repo id>-<num>" (stable, unique). URLs are built on the server's public base URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelyard.hub.discussions import Discussion, Event
from modelyard.hub.events import HubEvent
from modelyard.hub.repos import Repo

VERSION = 3


def repo_urls(base: str, repo: Repo) -> dict[str, str]:
    return {
        "web": f"{base}/{repo.type.url_prefix}{repo.id_str}",
        "api": f"{base}/api/{repo.type.plural}/{repo.id_str}",
    }


def _discussion(base: str, repo: Repo, d: Discussion, account_id: Callable[[str], str]) -> dict[str, Any]:
    urls = repo_urls(base, repo)
    out: dict[str, Any] = {
        "id": f"{repo.id}-{d.num}",
        "num": d.num,
        "author": {"id": account_id(d.author)},
        "url": {"web": f"{urls['web']}/discussions/{d.num}", "api": f"{urls['api']}/discussions/{d.num}"},
        "title": d.title,
        "isPullRequest": d.is_pr,
        "status": d.status,
        "pinned": False,
    }
    if d.is_pr:
        out["changes"] = {"base": f"refs/heads/{d.base_ref or 'main'}", "mergeCommitId": d.merge_commit}
    return out


def _comment(disc_web: str, ev: Event, account_id: Callable[[str], str]) -> dict[str, Any]:
    latest = ev.data.get("latest") if isinstance(ev.data.get("latest"), dict) else {}
    return {
        "id": str(ev.id),
        "author": {"id": account_id(ev.author or "")},
        "hidden": bool(ev.data.get("hidden", False)),
        "content": str(latest.get("raw", "")) if latest else None,
        "url": {"web": f"{disc_web}#{ev.id}"},
    }


def build(event: HubEvent, webhook_id: str, base: str, account_id: Callable[[str], str]) -> dict[str, Any]:
    """The payload of `event` for one webhook. `account_id(name)` is the id of a user or org (the name if gone)."""
    repo = event.repo
    payload: dict[str, Any] = {
        "event": {"action": event.action, "scope": event.scope},
        "repo": {
            "id": str(repo.id),
            "owner": {"id": account_id(repo.namespace)},
            "name": repo.id_str,
            "private": repo.private,
            "type": repo.type.value,
            "url": repo_urls(base, repo),
            "head_sha": repo.head_sha,
            "tags": list(repo.tags),
        },
        "webhook": {"id": webhook_id, "version": VERSION},
    }
    if event.discussion is not None:
        d = _discussion(base, repo, event.discussion, account_id)
        payload["discussion"] = d
        if event.comment is not None:
            payload["comment"] = _comment(d["url"]["web"], event.comment, account_id)
    if event.refs:
        payload["updatedRefs"] = [
            {"ref": r.ref, "oldSha": r.old_sha, "newSha": r.new_sha} for r in event.refs
        ]
    if event.moved_to:
        payload["movedTo"] = {
            "name": event.moved_to,
            "owner": {"id": account_id(event.moved_to.split("/")[0])},
        }
    return payload
