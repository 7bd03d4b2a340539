"""Likes: a user likes a repo; the repo's `likes` counter follows.  owns: likes"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from modelyard.db import Database
from modelyard.db.schema import accounts, likes, repos
from modelyard.errors import Forbidden, TokenScope, Unauthorized
from modelyard.hub._time import now
from modelyard.hub.accounts import Principal
from modelyard.hub.repos import Repo, Repos, can_discuss, can_read, row_to_repo


@dataclass(frozen=True)
class Like:
    repo: Repo
    created_at: datetime


class Likes:
    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, who: Principal | None, repo: Repo, liked: bool) -> int:
        """Like (or unlike) `repo` as `who`; idempotent. Returns the new like count."""
        if who is None:
            raise Unauthorized("You must be authenticated to like a repository")
        if not can_discuss(repo, who):  # a social write, like a comment: discussion.write or repo.write
            if not who.can_write:
                raise Forbidden(
                    "This token is read-only: use a token with the 'write' role to like a repository"
                )
            raise TokenScope(
                f"This token ({who.role} token {who.token_name!r}) does not have the 'discussion.write' permission "
                f"on {repo.type.value} {repo.id_str}"
            )
        with self.db.transaction() as conn:
            key = (likes.c.account_id == who.account.id) & (likes.c.repo_id == repo.id)
            exists = conn.execute(select(likes.c.repo_id).where(key)).first() is not None
            if liked and not exists:
                conn.execute(
                    likes.insert().values(account_id=who.account.id, repo_id=repo.id, created_at=now())
                )
                Repos.adjust_likes(conn, repo.id, 1)
            elif not liked and exists:
                conn.execute(likes.delete().where(key))
                Repos.adjust_likes(conn, repo.id, -1)
            return int(conn.execute(select(repos.c.likes).where(repos.c.id == repo.id)).scalar_one())

    def has_liked(self, who: Principal | None, repo: Repo) -> bool:
        if who is None:
            return False
        with self.db.read() as conn:
            row = conn.execute(
                select(likes.c.repo_id).where(
                    likes.c.account_id == who.account.id, likes.c.repo_id == repo.id
                )
            ).first()
        return row is not None

    def by_user(self, account_id: int, viewer: Principal | None) -> list[Like]:
        """Repos liked by an account, newest first, restricted to what `viewer` may read."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(repos, likes.c.created_at.label("liked_at"))
                .join(likes, likes.c.repo_id == repos.c.id)
                .where(likes.c.account_id == account_id)
                .order_by(likes.c.created_at.desc())
            ).all()
        out = [Like(row_to_repo(r), r.liked_at) for r in rows]
        return [x for x in out if can_read(x.repo, viewer)]

    def likers(self, repo: Repo, offset: int = 0, limit: int = 1000) -> tuple[list[str], bool]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(accounts.c.name)
                .join(likes, likes.c.account_id == accounts.c.id)
                .where(likes.c.repo_id == repo.id)
                .order_by(likes.c.created_at.desc(), accounts.c.name)
                .offset(offset)
                .limit(limit + 1)
            ).all()
        names = [r.name for r in rows]
        return names[:limit], len(names) > limit
