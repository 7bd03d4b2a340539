"""Pushes: check the ref updates and the quarantined objects of a `git push`, import them into the database.

Called from the pre-receive hook's channel (git/hook.py) while receive-pack waits. Nothing is written unless the
whole push is accepted; the database transaction (hub/pushes.py) is the point of no return.

The checks, in order (each stage reports every problem it finds, one line each, then refuses):
  1. refs: only ``refs/heads/<name>``, ``refs/tags/<name>`` (`revisions.ref_name_problem`) and ``refs/pr/<N>`` of
     an open pull request; the pusher's right on each (`Repos.check_push`; tags need write access); main cannot
     be deleted; the ref must still be what the pusher saw; branches name commits, tags commits or tag objects
     of commits.
  2. history: a non-fast-forward update (a forced push; the server cannot see ``--force``, git checks on the
     client) rewrites main only for admins of the namespace, other branches and PR refs for anyone who may push
     there.
  3. files of every new commit: paths (`paths.validate_path`), modes (100644 and 100755; no symlinks, no
     submodules), plain files up to `REGULAR_MAX` (larger ones belong in LFS: the Hub's advice), LFS pointers
     naming objects this repo holds (uploaded by git-lfs before the push, or in its history).
Then the plain files' bytes go to the blob store, and `Pushes.apply` writes commits and refs in one transaction.

git is read with few processes whatever the push's size: one ``rev-list`` per pushed ref, one ``diff-tree
--stdin`` for all commits, one ``cat-file --batch-check`` for sizes and one ``cat-file --batch`` for contents, all
with receive-pack's quarantine environment (the new objects, with the mirror's as alternates).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard.errors import BadRequest, Forbidden, HubError, NotFound
from modelyard.git.export import TreeBuilder
from modelyard.git.hook import HookReply, HookRequest
from modelyard.git.objects import Change, GitObjects, ParsedCommit, lfs_pointer_of, parse_commit, parse_tag
from modelyard.hub import discussions, revisions
from modelyard.hub.access import role_at_least
from modelyard.hub.accounts import Principal
from modelyard.hub.cards import parse_card
from modelyard.hub.files import REGULAR_MAX, Files
from modelyard.hub.gitobjects import FILE_MODES
from modelyard.hub.paths import validate_path
from modelyard.hub.pushes import MainHead, Pushes, RefChange
from modelyard.hub.repos import Repo, can_write
from modelyard.hub.revisions import FileEntry, ImportedCommit
from modelyard.storage import put_bytes
from modelyard.storage.ingest import trim_heap

ZERO = "0" * 40
POINTER_MAX = 256  # a canonical LFS pointer is about 130 bytes: larger blobs are never pointers
CARD_MAX = 1024 * 1024
_HEX40 = re.compile(r"\A[0-9a-f]{40}\Z")
_RULE = "-" * 73
LFS_DOCS = "https://git-lfs.github.com/"
MODE_SYMLINK, MODE_GITLINK = 0o120000, 0o160000


class Refused(Exception):
    """The push is refused; `lines` tell the user why (git prints them as ``remote: …``)."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


# --- the push -----------------------------------------------------------------------------------------------------
@dataclass
class _Update:
    ref: str
    kind: str
    name: str
    old: str | None
    new: str | None  # the object the ref will name (a tag object for an annotated tag)
    commit: str | None = None  # the commit it peels to
    tag_raw: bytes | None = None
    tag_message: str | None = None


@dataclass
class _Blob:
    sha256: str
    size: int
    lfs: bool


@dataclass
class _Problems:
    general: list[str] = field(default_factory=list)
    large: list[str] = field(default_factory=list)
    lfs: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = list(self.general)
        if self.large:
            out += [
                _RULE,
                f"Your push was rejected because it contains files larger than {REGULAR_MAX // 1024**2} MiB.",
                f"Please use {LFS_DOCS} to store large files:",
                "`git lfs track <pattern>`, then `git lfs migrate import --include=<pattern>` to rewrite the",
                "commits that added them, and push again.",
                "",
                "Offending files:",
                *self.large,
                _RULE,
            ]
        if self.lfs:
            out += [
                _RULE,
                "Your push was rejected because it contains LFS pointers to objects this repository does not hold:",
                *self.lfs,
                f"Install git-lfs ({LFS_DOCS}) and run `git lfs install`, then `git lfs push --all origin`",
                "uploads the objects (git push does it too once git-lfs is installed); push again.",
                _RULE,
            ]
        return out

    def check(self) -> None:
        if self.general or self.large or self.lfs:
            raise Refused(self.lines())


def classify(ref: str) -> tuple[str, str] | str:
    """(kind, name) of a ref a push may update, or why not."""
    what = "only branches (refs/heads/<name>), tags (refs/tags/<name>) and pull request refs (refs/pr/<N>) can be pushed"
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix):
            name = ref[len(prefix) :]
            problem = revisions.ref_name_problem(name)
            return (kind, name) if problem is None else f"{ref}: invalid {kind} name ({problem})"
    if ref.startswith("refs/pr/"):
        num = ref[len("refs/pr/") :]
        if num.isdigit() and num.isascii() and str(int(num)) == num:
            return "pr", num
        return f"{ref}: pull request refs are refs/pr/<number>"
    return f"{ref}: {what}"


def _touched(c: ParsedCommit, changes: dict[str, list[Change]]) -> set[str]:
    return {ch.path.decode("utf-8") for ch in changes.get(c.sha, [])}


class PushImporter:
    def __init__(self, files: Files, pushes: Pushes | None = None) -> None:
        self.files = files
        self.repos = files.repos
        self.pushes = pushes or Pushes(files.db, files.repos)

    def check_entry(self, who: Principal | None, repo: Repo) -> None:
        """May `who` start a push to `repo` at all (before git runs)? Members with write access may; anyone else
        only if they authored an open pull request of the repo (its refs/pr/N is theirs to push). Raises what
        `Repos.check_push` raises (Unauthorized, RepoNotFound, Forbidden), so git answers 401/404/403; each ref
        is checked again in `handle`."""
        try:
            self.repos.check_push(who, repo, None, create_pr=False)
        except Forbidden:
            if who is None or not self._open_pr_of(who, repo):
                raise

    def _open_pr_of(self, who: Principal, repo: Repo) -> bool:
        with self.files.db.read() as conn:
            mine = [
                d
                for d in discussions.list_all(conn, repo.id)
                if d.is_pr and d.author == who.account.name and d.status in ("draft", "open")
            ]
        for d in mine:  # the full rule (token scopes, role) of a push to that ref
            try:
                self.repos.check_push(who, repo, f"refs/pr/{d.num}", create_pr=False)
                return True
            except HubError:
                continue
        return False

    def handle(self, who: Principal, repo: Repo, req: HookRequest, git_dir: Path) -> HookReply:
        """Check and import one push (blocking; run in a thread). The reply's messages reach the user."""
        if not req.updates:
            return HookReply(True, [])
        objects = GitObjects(git_dir, req.env)
        try:
            return self._push(who, repo, req, objects)
        except Refused as r:
            return HookReply(False, r.lines)
        except HubError as exc:
            return HookReply(False, [exc.message])
        finally:
            objects.close()
            trim_heap()  # a long history's manifests were held: give the memory back, as uploads do

    # --- stages -------------------------------------------------------------------------------------------------
    def _push(self, who: Principal, repo: Repo, req: HookRequest, git: GitObjects) -> HookReply:
        updates = self._check_refs(who, repo, req.updates, git)
        self._check_history(who, repo, updates, git)
        commits, owner = self._new_commits(repo, updates, git)
        changes = git.changes([(c.sha, c.parents[0] if c.parents else None) for c in commits])
        blobs = self._check_files(repo, commits, changes, owner, git)
        main_update = next((u for u in updates if u.kind == "branch" and u.name == "main" and u.commit), None)
        tips = {main_update.commit} if main_update and main_update.commit else set()
        manifests = self._check_trees(repo, commits, changes, blobs, tips)
        main = self._main_head(repo, main_update, manifests)
        ref_changes = [RefChange(u.kind, u.name, u.old, u.commit, u.tag_raw, u.tag_message) for u in updates]
        imported = self._imported(who, repo, commits, changes, blobs)
        result = self.pushes.apply(who.account.name, repo, imported, ref_changes, main)
        url = f"{self.repos.public_url}/{repo.type.url_prefix}{repo.id_str}" if self.repos.public_url else ""
        n = result.imported
        return HookReply(
            True,
            [
                f"{repo.type.value} {repo.id_str}: {n} new commit{'s' if n != 1 else ''}"
                + (f" ({url})" if url else "")
            ],
        )

    def _check_refs(
        self, who: Principal, repo: Repo, raw: list[tuple[str, str, str]], git: GitObjects
    ) -> list[_Update]:
        problems = _Problems()
        current = {r.full: r for r in self.files.refs(repo)}
        updates: list[_Update] = []
        for old_raw, new_raw, ref in raw:
            if not (_HEX40.match(old_raw) and _HEX40.match(new_raw)):
                problems.general.append(f"{ref}: malformed update")
                continue
            got = classify(ref)
            if isinstance(got, str):
                problems.general.append(got)
                continue
            kind, name = got
            old = None if old_raw == ZERO else old_raw
            new = None if new_raw == ZERO else new_raw
            have = current.get(ref)
            if (have.object_sha if have else None) != old:
                problems.general.append(f"{ref} moved since you fetched: fetch and push again")
                continue
            problem = self._permission(who, repo, kind, name, ref, new)
            if problem:
                problems.general.append(problem)
                continue
            updates.append(_Update(ref, kind, name, old, new))
        problems.check()
        kinds = git.kinds(u.new for u in updates if u.new)
        for u in updates:
            if u.new is None:
                continue
            kind_size = kinds.get(u.new)
            obj_type = kind_size[0] if kind_size else "missing"
            if obj_type == "commit":
                u.commit = u.new
            elif obj_type == "tag" and u.kind == "tag":
                u.tag_raw = git.read(u.new)[1]
                target, target_type, u.tag_message = parse_tag(u.tag_raw)
                if target_type != "commit":
                    problems.general.append(
                        f"{u.ref}: tags must point to commits (this tag points to a {target_type})"
                    )
                u.commit = target
            else:
                what = "commits or annotated tags of commits" if u.kind == "tag" else "commits"
                problems.general.append(f"{u.ref}: {u.kind} refs must name {what}, not a {obj_type}")
        problems.check()
        return updates

    def _permission(
        self, who: Principal, repo: Repo, kind: str, name: str, ref: str, new: str | None
    ) -> str | None:
        if kind == "tag":
            if not can_write(repo, who):
                return f"{ref}: you don't have write access to {repo.type.value} {repo.id_str} (tags need it)"
            return None
        try:
            self.repos.check_push(who, repo, ref, create_pr=False)
        except HubError as exc:
            return f"{ref}: {exc.message}"
        if kind == "branch" and name == "main" and new is None:
            return f"{ref}: the default branch cannot be deleted"
        if kind == "pr":
            if new is None:
                return f"{ref}: pull request refs cannot be deleted (close the pull request instead)"
            with self.files.db.read() as conn:
                try:
                    pr = discussions.get(conn, repo.id, int(name))
                except NotFound:
                    pr = None
            if pr is None or not pr.is_pr or pr.status not in ("draft", "open"):
                return f"{ref}: there is no open pull request #{name}"
        return None

    def _check_history(self, who: Principal, repo: Repo, updates: list[_Update], git: GitObjects) -> None:
        problems = _Problems()
        admin = role_at_least(who.role_in(repo.namespace), "admin")
        for u in updates:
            if u.kind == "tag" or u.old is None or u.commit is None or u.old == u.new:
                continue
            if git.is_ancestor(u.old, u.commit):
                continue
            if u.kind == "branch" and u.name == "main" and not admin:
                problems.general.append(
                    f"non-fast-forward update of {u.ref}: only admins of {repo.namespace} may rewrite main's history"
                )
        problems.check()

    def _new_commits(
        self, repo: Repo, updates: list[_Update], git: GitObjects
    ) -> tuple[list[ParsedCommit], dict[str, str]]:
        """The pushed commits the database lacks, parents first, and the ref that brought each."""
        order: list[str] = []
        owner: dict[str, str] = {}
        for u in updates:
            if u.commit is None:
                continue
            for sha in git.new_commits(u.commit):
                if sha not in owner:
                    owner[sha] = u.ref
                    order.append(sha)
        known = set(self.files.commits(repo, set(order))) if order else set()
        commits: list[ParsedCommit] = []
        for sha in order:
            if sha in known:
                continue
            kind, raw = git.read(sha)
            if kind != "commit":
                raise RuntimeError(f"git rev-list listed {sha}, a {kind}")
            commits.append(parse_commit(sha, raw))
        return commits, owner

    def _check_files(
        self,
        repo: Repo,
        commits: list[ParsedCommit],
        changes: dict[str, list[Change]],
        owner: dict[str, str],
        git: GitObjects,
    ) -> dict[str, _Blob]:
        """Every new file checked; the blob of each (plain files stored, LFS pointers resolved)."""
        problems = _Problems()
        seen: set[tuple[str, str]] = set()  # (kind of problem + path, ref): one line each
        wanted: dict[str, None] = {}
        for c in commits:
            for ch in changes.get(c.sha, []):
                if ch.mode and ch.mode in FILE_MODES:
                    wanted[ch.oid] = None
        kinds = git.kinds(wanted)
        small: dict[str, bytes] = {}
        lfs_checked: dict[tuple[str, int], bool] = {}
        blobs: dict[str, _Blob] = {}

        def once(key: str, ref: str, line: str, into: list[str]) -> None:
            if (key, ref) not in seen:
                seen.add((key, ref))
                into.append(line)

        for c in commits:
            ref = owner[c.sha]
            for ch in changes.get(c.sha, []):
                try:
                    path = ch.path.decode("utf-8")
                except UnicodeDecodeError:
                    once(
                        "path" + repr(ch.path),
                        ref,
                        f"{ch.path!r} (ref: {ref}): file names must be UTF-8",
                        problems.general,
                    )
                    continue
                if ch.mode == 0:
                    continue
                if ch.mode == MODE_SYMLINK:
                    once(
                        "link" + path,
                        ref,
                        f"{path} (ref: {ref}): symbolic links are not supported",
                        problems.general,
                    )
                    continue
                if ch.mode == MODE_GITLINK:
                    once(
                        "sub" + path,
                        ref,
                        f"{path} (ref: {ref}): submodules are not supported",
                        problems.general,
                    )
                    continue
                if ch.mode not in FILE_MODES:
                    once(
                        "mode" + path,
                        ref,
                        f"{path} (ref: {ref}): unsupported file mode {ch.mode:o}",
                        problems.general,
                    )
                    continue
                try:
                    if validate_path(path) != path:
                        raise BadRequest(f"Invalid path {path!r}")
                except BadRequest as exc:
                    once("path" + path, ref, f"{path!r} (ref: {ref}): {exc.message}", problems.general)
                    continue
                kind_size = kinds.get(ch.oid)
                if kind_size is None or kind_size[0] != "blob":
                    once("obj" + path, ref, f"{path} (ref: {ref}): not a file", problems.general)
                    continue
                size = kind_size[1]
                if size > REGULAR_MAX:
                    once("large" + path, ref, f"  - {path} (ref: {ref})", problems.large)
                    continue
                if size > POINTER_MAX:
                    continue
                if ch.oid not in small:
                    small[ch.oid] = git.read(ch.oid)[1]
                pointer = lfs_pointer_of(small[ch.oid])
                if pointer is None:
                    continue
                if pointer not in lfs_checked:
                    held = self.files.lfs_known(repo, pointer[0])
                    lfs_checked[pointer] = held == pointer[1] and self.files.content_available(pointer[0])
                if not lfs_checked[pointer]:
                    once(
                        "lfs" + path,
                        ref,
                        f"  - {path} (ref: {ref}): sha256:{pointer[0]}, {pointer[1]} bytes",
                        problems.lfs,
                    )
                    continue
                blobs[ch.oid] = _Blob(pointer[0], pointer[1], True)
        problems.check()
        # accepted so far: the plain files' bytes go to the blob store now (blobs durable before rows)
        for oid in wanted:
            if oid in blobs:
                continue
            data = small[oid] if oid in small else git.read(oid)[1]
            info = put_bytes(self.files.store, data)
            blobs[oid] = _Blob(info.sha256, info.size, False)
        return blobs

    def _manifests(
        self,
        repo: Repo,
        commits: list[ParsedCommit],
        changes: dict[str, list[Change]],
        blobs: dict[str, _Blob],
        check: bool = True,
    ) -> Iterator[tuple[ParsedCommit, dict[str, FileEntry], set[str]]]:
        """Each new commit (parents first) with its full manifest, built from its first parent's, and the paths it
        adds or modifies. A manifest is kept only while a later commit of the push still builds on it, so memory
        stays about one manifest per open line of history, whatever the push's length.

        `check`: each manifest must hash to the commit's tree (else Refused); the trees are built incrementally
        along a line of history (export.TreeBuilder), so a long push costs the changed paths, not all files."""
        pending = Counter(c.parents[0] for c in commits if c.parents)
        kept: dict[str, dict[str, FileEntry]] = {}
        trees, trees_at = TreeBuilder(), None  # the builder holds the trees of commit `trees_at`
        for c in commits:
            parent = c.parents[0] if c.parents else None
            files: dict[str, FileEntry] = {}
            if parent is not None:
                if parent not in kept:
                    kept[parent] = self._db_manifest(repo, parent)
                files = dict(kept[parent])
                pending[parent] -= 1
                if pending[parent] <= 0:
                    del kept[parent]
            changed: set[str] = set()
            for ch in changes.get(c.sha, []):
                path = ch.path.decode("utf-8")
                if ch.mode == 0:
                    files.pop(path, None)
                    continue
                b = blobs[ch.oid]
                files[path] = FileEntry(path, ch.oid, b.sha256, b.size, b.lfs, c.sha, ch.mode)
                changed.add(path)
            if check and parent is not None and parent == trees_at:
                trees.apply(
                    {p: (e.oid, e.mode) if (e := files.get(p)) else None for p in _touched(c, changes)}
                )
            elif check:
                trees = TreeBuilder()
                trees.update({p: (e.oid, e.mode) for p, e in files.items()})
            trees_at = c.sha
            if check and trees.trees[""][0] != c.tree:
                raise Refused(
                    [f"commit {c.sha}: its tree holds entries the hub cannot store (file modes or names)"]
                )
            if pending[c.sha] > 0:
                kept[c.sha] = files
            yield c, files, changed

    def _check_trees(
        self,
        repo: Repo,
        commits: list[ParsedCommit],
        changes: dict[str, list[Change]],
        blobs: dict[str, _Blob],
        tips: set[str],
    ) -> dict[str, dict[str, FileEntry]]:
        """Every new commit's manifest hashes to its tree (else Refused); the manifests of `tips`."""
        return {
            c.sha: files for c, files, _ in self._manifests(repo, commits, changes, blobs) if c.sha in tips
        }

    def _imported(
        self,
        who: Principal,
        repo: Repo,
        commits: list[ParsedCommit],
        changes: dict[str, list[Change]],
        blobs: dict[str, _Blob],
    ) -> Iterator[ImportedCommit]:
        """The commits to store, built one by one while the transaction consumes them."""
        for c, files, changed in self._manifests(
            repo, commits, changes, blobs, check=False
        ):  # checked before
            yield ImportedCommit(
                raw=c.raw,
                parent_sha=c.parents[0] if c.parents else None,
                tree_sha=c.tree,
                manifest=files,
                changed=changed,
                author=who.account.name,
                title=c.title,
                message=c.message,
                created_at=c.committed_at,
                verified=True,
            )

    def _db_manifest(self, repo: Repo, sha: str) -> dict[str, FileEntry]:
        with self.files.db.read() as conn:
            revisions.get_commit(conn, repo.id, sha)  # RevisionNotFound rather than an empty manifest
            return revisions.manifest(conn, repo.id, sha)

    def _main_head(
        self, repo: Repo, main: _Update | None, manifests: dict[str, dict[str, FileEntry]]
    ) -> MainHead | None:
        """main's new manifest and card, when the push moves main (the card read now, outside the transaction)."""
        if main is None or main.commit is None:
            return None
        files = manifests[main.commit] if main.commit in manifests else self._db_manifest(repo, main.commit)
        before = self._db_manifest(repo, main.old) if main.old else {}
        readme, old_readme = files.get("README.md"), before.get("README.md")
        changed = (readme.oid if readme else None) != (old_readme.oid if old_readme else None)
        card: dict[str, Any] | None = None
        if changed and readme is not None:
            text = self.files.content.read(readme.sha256, 0, min(readme.size, CARD_MAX)).decode(
                "utf-8", "replace"
            )
            try:
                card = parse_card(text)
            except BadRequest:
                card = None
        return MainHead(files, card, changed)
