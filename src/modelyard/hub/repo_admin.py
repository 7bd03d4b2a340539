"""Repo administration calls: duplicate a repo, server-side copy of LFS/Xet objects between repos, a namespace's
repos with their storage, and comment moderation (edit, hide).

Server-side copies are the authorised form of "I already have these bytes": the caller must be able to read the
source (and the object must be an LFS file of the source's history, unless the caller can write the source) and must
be allowed to push to the destination (`Repos.check_push`). The destination then holds the objects, recorded like an
upload (`Files.record_lfs_many`), which is what `Files.lfs_known` and the Xet CAS's content binding consult.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from modelyard.db import Database
from modelyard.errors import BadRequest, Forbidden, Unauthorized
from modelyard.hub import audit, discussions, revisions
from modelyard.hub.accounts import Principal
from modelyard.hub.content import Content
from modelyard.hub.discussions import Event
from modelyard.hub.events import HubEvent
from modelyard.hub.files import Files
from modelyard.hub.repos import Repo, Repos, can_discuss, can_write
from modelyard.hub.search import Query, Search
from modelyard.types import RepoType

MAX_DUPLICATE_FILES = 500  # per /lfs-files/duplicate call, as huggingface_hub batches them
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class RepoAdmin:
    def __init__(self, db: Database, repos: Repos, files: Files, content: Content, search: Search) -> None:
        self.db = db
        self.repos = repos
        self.files = files
        self.content = content
        self.search = search

    # --- duplicate ----------------------------------------------------------------------------------
    def duplicate(
        self, who: Principal | None, src: Repo, namespace: str, name: str, private: bool | None
    ) -> Repo:
        """A new repo `namespace/name` with `src`'s whole history (commits, branches, tags) and its LFS objects.
        `src` was looked up for `who` (read access); creating the destination checks the namespace rights."""
        dst = self.repos.create(
            who, src.type, name, namespace, src.private if private is None else private, src.sdk
        )
        try:
            with self.db.transaction() as conn:
                revisions.copy_history(conn, src.id, dst.id)
                head = revisions.get_ref(conn, dst.id, "branch", "main")
                if head is not None:
                    files = revisions.manifest(conn, dst.id, head.commit_sha)
                    used = sum(e.size for e in files.values())
                    Repos.record_head(conn, dst.id, head.commit_sha, used, src.card_data, True)
                held = revisions.lfs_in_history(conn, dst.id)
        except Exception:
            self.repos.delete(who, dst.type, dst.namespace, dst.name)
            raise
        self.files.record_lfs_many(dst.id, [(sha, size) for sha, (size, _) in held.items()])
        return self.repos.get(dst.type, dst.namespace, dst.name, who)

    # --- server-side copy of objects ----------------------------------------------------------------
    def duplicate_objects(
        self, who: Principal | None, src: Repo, dst: Repo, objects: Sequence[Any]
    ) -> list[dict[str, str]]:
        """Bind LFS/Xet objects of `src` to `dst` (huggingface_hub's cross-repo CommitOperationCopy). Returns the
        failures as `{"sha256", "error"}`; every object that passes is recorded in `dst`."""
        self.repos.check_push(who, dst, None, True)  # no ref: like an LFS upload for a commit or a new PR
        if len(objects) > MAX_DUPLICATE_FILES:
            raise BadRequest(f"At most {MAX_DUPLICATE_FILES} files per request")
        wanted: list[tuple[str, str | None]] = []
        failed: list[dict[str, str]] = []
        for o in objects:
            sha = o.get("sha256") if isinstance(o, dict) else None
            xet = o.get("xetHash") if isinstance(o, dict) else None
            if not isinstance(sha, str) or not _SHA256.match(sha):
                failed.append({"sha256": str(sha)[:64], "error": "Invalid sha256: 64 lower-case hex digits"})
            elif xet is not None and not isinstance(xet, str):
                failed.append({"sha256": sha, "error": "Invalid xetHash: a string"})
            else:
                wanted.append((sha, xet))
        with self.db.read() as conn:
            in_history = revisions.lfs_in_history(conn, src.id, [sha for sha, _ in wanted])
        writer = can_write(src, who)
        ok: list[tuple[str, int]] = []
        for sha, xet in wanted:
            size = in_history[sha][0] if sha in in_history else None
            if size is None and writer:  # uploaded to the source but not committed: its pushers may copy it
                size = self.files.lfs_known(src, sha)
            if size is None:
                failed.append({"sha256": sha, "error": f"Not an LFS file of {src.type.value} {src.id_str}"})
            elif not self.content.exists(sha):
                failed.append({"sha256": sha, "error": "The object's content is not available"})
            elif xet is not None and self.content.xet_hash(sha) not in (None, xet):
                failed.append({"sha256": sha, "error": "xetHash does not match the object"})
            else:
                ok.append((sha, size))
        if ok:
            self.files.record_lfs_many(dst.id, ok)
        return failed

    # --- listings -----------------------------------------------------------------------------------
    def namespace_repos(self, who: Principal | None, namespace: str) -> list[Repo]:
        """Every repo of a namespace the caller belongs to (private ones too), newest change first."""
        if who is None:
            raise Unauthorized("You must be authenticated to list your repositories")
        if not who.member_of(namespace):
            raise Forbidden(f"You are not a member of {namespace!r}")
        out: list[Repo] = []
        for rtype in RepoType:
            offset = 0
            while True:
                page, more = self.search.list(
                    Query(rtype, author=namespace, sort="lastModified", limit=1000, offset=offset), who
                )
                out += page
                if not more:
                    break
                offset += 1000
        return sorted(out, key=lambda r: r.last_modified, reverse=True)

    def lfs_files(self, repo: Repo) -> list[tuple[str, int, Any, str]]:
        """The repo's LFS objects: (sha256, size, pushed_at, a filename from its history, or "")."""
        objects = self.files.list_lfs(repo)
        with self.db.read() as conn:
            names = revisions.lfs_in_history(conn, repo.id, [sha for sha, _, _ in objects])
        return [(sha, size, at, names[sha][1] if sha in names else "") for sha, size, at in objects]

    # --- comments -----------------------------------------------------------------------------------
    def edit_comment(self, who: Principal | None, repo: Repo, num: int, comment_id: str, text: str) -> Event:
        """Only the comment's author edits it, with a write-role token."""
        if who is None:
            raise Unauthorized("You must be authenticated")
        with self.db.transaction() as conn:
            discussions.get(conn, repo.id, num)
            author = discussions.comment_author(conn, repo.id, num, comment_id)
            if author != who.account.name or not can_discuss(repo, who):
                raise Forbidden(
                    "Only the author can edit a comment, with a token that may discuss (write, or discussion.write)"
                )
            ev = discussions.edit_comment(conn, repo.id, num, comment_id, text)
        self._tell(repo, num, ev)
        return ev

    def hide_comment(self, who: Principal | None, repo: Repo, num: int, comment_id: str) -> Event:
        """Members with write access to the repo hide comments; the text is erased."""
        if who is None:
            raise Unauthorized("You must be authenticated")
        if not can_write(repo, who):
            raise Forbidden(f"Only maintainers of {repo.id_str} can hide comments")
        with self.db.transaction() as conn:
            discussions.get(conn, repo.id, num)
            ev = discussions.hide_comment(conn, repo.id, num, comment_id, who.account.name)
            audit.record(
                conn,
                "discussion.hide",
                actor=who,
                target=f"{repo.key}/discussions/{num}",
                namespace=repo.namespace,
                details={"comment": comment_id},
            )
        self._tell(repo, num, ev)  # the event carries the erased text only
        return ev

    def _tell(self, repo: Repo, num: int, comment: Event) -> None:
        """Webhooks hear of a committed comment change (`discussion.comment` update), after the transaction."""
        with self.db.read() as conn:
            d = discussions.get(conn, repo.id, num)
        self.repos.events.emit(HubEvent("discussion.comment", "update", repo, discussion=d, comment=comment))
