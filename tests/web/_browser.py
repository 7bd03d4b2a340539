"""Browser helpers for the Playwright tests (headless Debian Chromium): sizes, login, axe-core, screenshots.

The fixtures (`browser`, `page` at 1440x900, `phone` at 390x844) are in tests/web/conftest.py; every page they
open fails its test on a JavaScript error or a CSP violation. Screenshots go to $MODELYARD_SCREENSHOTS (the
docs' docs/web/ folder when regenerating them: `MODELYARD_SCREENSHOTS=docs/web pytest tests/web`), else to a
temp folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
JS_DIR = Path(__file__).resolve().parents[1] / "js"
AXE = JS_DIR / "node_modules" / "axe-core" / "axe.min.js"
_STAMP = JS_DIR / "node_modules" / ".modelyard-lock-sha256"


def login(page: Any, url: str, token: str) -> None:
    """Log the browser in with an access token (the token form of /login, unfolded when it is inside a closed
    <details> because the password form is the main one), landing on the home page."""
    page.goto(f"{url}/login?next=/")
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    page.fill("form.token-login input[name=token]", token)
    page.click("form.token-login button[type=submit]")
    page.wait_for_url(url + "/")


def login_password(page: Any, url: str, username: str, password: str) -> None:
    """Log the browser in with a username and password (the password form of /login)."""
    page.goto(f"{url}/login?next=/")
    page.fill("form.password-login input[name=username]", username)
    page.fill("form.password-login input[name=password]", password)
    page.click("form.password-login button[type=submit]")
    page.wait_for_url(url + "/")


def csrf(page: Any) -> str:
    """The logged-in page's CSRF token (its <meta name=csrf-token>), for requests a test makes as the page."""
    return str(page.get_attribute("meta[name=csrf-token]", "content"))


def no_sideways_scroll(page: Any) -> None:
    """The page fits its viewport's width (nothing scrolls sideways on a phone)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    # the viewport's CSS width: a mobile page's window.innerWidth grows with content wider than the screen
    view = page.viewport_size["width"] if page.viewport_size else page.evaluate("window.innerWidth")
    assert width <= view, f"{page.url} is {width}px wide in a {view}px viewport"


def _axe_source() -> str:
    if not AXE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is needed to install axe-core (tests/js/package.json)")
        lock = hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()
        out = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            pytest.skip(f"npm ci failed (axe-core): {(out.stdout + out.stderr)[-400:]}")
        _STAMP.write_text(lock)
    return AXE.read_text()


def axe(page: Any, allow: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run axe-core on the current page; fail on serious or critical violations (rule ids in `allow` excepted).
    The script is injected through Playwright (no <script> in the page, so the CSP stays as it is)."""
    page.evaluate(_axe_source())  # defines window.axe
    result = page.evaluate(
        "async () => JSON.stringify(await axe.run(document, {resultTypes: ['violations']}))"
    )
    bad = [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:5]],
        }
        for v in json.loads(result)["violations"]
        if v["impact"] in ("serious", "critical") and v["id"] not in allow
    ]
    assert not bad, f"{page.url}: {json.dumps(bad, indent=1)}"
    return bad


def shot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save a screenshot as `<name>.png` in $MODELYARD_SCREENSHOTS (docs/web/ for the docs) or a temp folder."""
    out = Path(os.environ.get("MODELYARD_SCREENSHOTS") or Path(tempfile.gettempdir()) / "modelyard-shots")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
