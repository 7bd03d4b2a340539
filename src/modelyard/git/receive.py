"""Pushes: check the ref updates and the quarantined objects of a `git push`, import them into the database.

Called from the pre-receive hook's channel (git/hook.py) while receive-pack waits. Nothing is written unless the
whole push is accepted; the database transaction (hub/pushes.py) is the point of no return.
"""

from __future__ import annotations

from pathlib import Path

from modelyard.git.hook import HookReply, HookRequest
from modelyard.hub.accounts import Principal
from modelyard.hub.files import Files
from modelyard.hub.repos import Repo


class PushImporter:
    def __init__(self, files: Files) -> None:
        self.files = files

    def handle(self, who: Principal, repo: Repo, req: HookRequest, git_dir: Path) -> HookReply:
        """Check and import one push (blocking; run in a thread). The reply's messages reach the user."""
        return HookReply(False, ["pushing is not implemented yet"])
