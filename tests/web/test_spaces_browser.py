"""A Gradio Space in the browser (headless Chromium, desktop and phone): alice makes a Space on /new-space, pushes
its app, watches the stage badge go from building to running on the space page, then types into the embedded app
(served by the Spaces origin in a sandboxed iframe), clicks Submit and reads the answer. axe-core on the page, no
sideways scroll on a phone, the logs page following the build and run logs; screenshots for docs/web/."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.spaces._spaces import card, push_space, wait_stage
from tests.web._browser import axe, login, no_sideways_scroll, shot

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="/usr/bin/chromium missing"),
    pytest.mark.timeout(900),
]

GREETER = """
import gradio as gr


def greet(name):
    print("greeting", name, flush=True)
    return "Hello " + name + "!"


gr.Interface(greet, gr.Textbox(label="name"), gr.Textbox(label="greeting"), title="Greeter").launch()
"""
BUILD_WAIT_MS = 300_000
SECRET = "sk-web-4c0ffee5ecret"


@pytest.fixture(scope="module")
def greeter(spaces_hub: Any, browser: Any) -> Iterator[str]:
    """alice's Gradio Space, made on /new-space: no app file yet (NO_APP_FILE, the page shows a starter app.py);
    the card's sdk_version pinned through the API (the build then needs nothing that uv's cache lacks), and app.py
    written in the browser's file editor from the page's "Create a file" link."""
    from tests.web._browser import DESKTOP

    name = f"greeter-{uuid.uuid4().hex[:6]}"
    rid = f"alice/{name}"
    ctx = browser.new_context(viewport=DESKTOP)
    page = ctx.new_page()
    page.set_default_timeout(15000)
    login(page, spaces_hub.url, spaces_hub.alice)
    page.goto(f"{spaces_hub.url}/new-space")
    page.fill("#name", name)
    page.select_option("#sdk", "gradio")
    page.click("#new-repo-form button[type=submit]")
    page.wait_for_url(f"{spaces_hub.url}/spaces/{rid}")
    assert page.get_attribute("#space-stage", "data-stage") == "NO_APP_FILE"
    assert page.locator("#space-frame").count() == 0 and "app.py" in page.inner_text("#space-down")
    assert "gr.Interface(" in page.inner_text("#space-starter")
    push_space(spaces_hub, name, {"README.md": card("gradio", title="Greeter")}, exist_ok=True)
    page.reload()
    assert page.get_attribute("#space-stage", "data-stage") == "NO_APP_FILE"
    page.click("text=Create a file")
    page.fill("#path", "app.py")
    page.fill("#content", GREETER)
    page.click("#new-file-form button[type=submit]")
    page.wait_for_load_state()
    ctx.close()
    assert "app.py" in spaces_hub.api().list_repo_files(rid, repo_type="space")
    yield rid


def _wait_running(page: Any, url: str, rid: str) -> None:
    """Open the space page while the Space builds: the badge refreshes itself, and the page reloads into the
    app once it serves."""
    page.goto(f"{url}/spaces/{rid}")
    page.wait_for_selector("#space-stage[data-stage=RUNNING]", timeout=BUILD_WAIT_MS)
    page.wait_for_selector("#space-frame", timeout=30_000)


def _greet(page: Any, who: str) -> None:
    from playwright.sync_api import expect

    app = page.frame_locator("#space-frame")
    app.get_by_label("name", exact=True).fill(who)
    app.get_by_role("button", name="Submit").click()
    expect(app.get_by_label("greeting", exact=True)).to_have_value(f"Hello {who}!", timeout=60_000)


def test_gradio_space_in_the_page_on_desktop(spaces_hub: Any, greeter: str, page: Any) -> None:
    login(page, spaces_hub.url, spaces_hub.alice)
    page.goto(f"{spaces_hub.url}/spaces/{greeter}")
    stage = page.get_attribute("#space-stage", "data-stage")
    if stage != "RUNNING":  # still building: the badge says so, and the build log shows
        assert stage in {"BUILDING", "APP_STARTING", "STOPPED"}, stage
    _wait_running(page, spaces_hub.url, greeter)
    src = page.get_attribute("#space-frame", "src") or ""
    assert src == f"{spaces_hub.extra['spaces_url']}/spaces/{greeter}/"
    assert not src.startswith(spaces_hub.url)  # never on the hub's origin
    assert page.locator("#space-controls").is_visible()
    _greet(page, "ModelYard")
    axe(page)
    shot(page, "spaces-page")

    # the owner pauses it (the page shows so, no frame); restarted elsewhere (the API), the open page follows
    # the stage by itself (its badge is polled) and shows the app again, without a reload by hand
    page.click("#space-pause")
    page.wait_for_selector("#space-down")
    assert page.get_attribute("#space-stage", "data-stage") == "PAUSED"
    assert page.locator("#space-frame").count() == 0 and "This Space is paused" in page.inner_text(
        "#space-down"
    )
    axe(page)
    page.evaluate("window.__samePage = 1")
    spaces_hub.api().restart_space(greeter)
    page.wait_for_selector("#space-frame", timeout=BUILD_WAIT_MS)
    assert page.evaluate("window.__samePage") is None  # htmx reloaded the page (HX-Refresh)
    # the Restart button: back to the page; the old app serves until the new one is up
    page.click("#space-restart")
    page.wait_for_url(f"{spaces_hub.url}/spaces/{greeter}")
    assert page.get_attribute("#space-stage", "data-stage") != "PAUSED"
    wait_stage(spaces_hub, greeter, {"RUNNING"}, timeout=BUILD_WAIT_MS / 1000)
    page.reload()
    page.wait_for_selector("#space-frame")
    _greet(page, "after a restart")

    # the logs page: the build log as it ended, the run log of this run, then following live
    page.goto(f"{spaces_hub.url}/spaces/{greeter}/logs")
    page.wait_for_function(
        "() => document.querySelector('#space-log-run').textContent.includes('greeting after a restart')",
        timeout=30_000,
    )
    build = page.inner_text("#space-log-build")
    assert build.strip() and "No log lines yet" not in build
    assert page.inner_text("[data-live-for=run]") in ("· live", "· reconnecting")
    _greet_from_another_tab(page, spaces_hub.url, greeter)
    page.wait_for_function(
        "() => document.querySelector('#space-log-run').textContent.includes('greeting from another tab')",
        timeout=30_000,
    )
    axe(page)
    shot(page, "spaces-logs")

    page.goto(f"{spaces_hub.url}/spaces/{greeter}/settings/space")
    page.select_option("#sleep-time", "900")
    page.click("#sleep-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/settings/space#sleep$"))
    assert page.eval_on_selector("#sleep-time", "s => s.value") == "900"
    page.fill("#secret-form input[name=key]", "OPENAI_KEY")
    page.fill("#secret-form input[name=value]", SECRET)
    page.fill("#secret-form input[name=description]", "for the demo")
    page.click("#secret-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/settings/space#secrets$"))
    page.fill("#variable-form input[name=key]", "GREETING")
    page.fill("#variable-form input[name=value]", "Hello")
    page.click("#variable-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/settings/space#variables$"))
    assert "OPENAI_KEY" in page.inner_text("#secret-list") and "GREETING" in page.inner_text("#variable-list")
    assert SECRET not in page.content()
    page.evaluate("window.scrollTo(0, 0)")
    axe(page)
    shot(page, "spaces-settings")
    # a secret change restarts the Space; it serves again
    wait_stage(spaces_hub, greeter, {"RUNNING"}, timeout=BUILD_WAIT_MS / 1000)


def _greet_from_another_tab(page: Any, url: str, rid: str) -> None:
    other = page.context.new_page()
    try:
        other.goto(f"{url}/spaces/{rid}")
        other.wait_for_selector("#space-frame")
        _greet(other, "from another tab")
    finally:
        other.close()


def test_gradio_space_on_a_phone(spaces_hub: Any, greeter: str, phone: Any) -> None:
    wait_stage(spaces_hub, greeter, {"RUNNING"}, timeout=BUILD_WAIT_MS / 1000)
    login(phone, spaces_hub.url, spaces_hub.alice)
    _wait_running(phone, spaces_hub.url, greeter)
    no_sideways_scroll(phone)
    box = phone.locator("#space-frame").bounding_box()
    assert box is not None and box["width"] >= 390 - 40, box  # the app fills the width
    _greet(phone, "phone")
    no_sideways_scroll(phone)
    axe(phone)
    shot(phone, "spaces-page-phone", full_page=False)


def test_listing_shows_the_stage(spaces_hub: Any, greeter: str, page: Any) -> None:
    wait_stage(spaces_hub, greeter, {"RUNNING"}, timeout=BUILD_WAIT_MS / 1000)
    page.goto(f"{spaces_hub.url}/spaces?search={greeter.split('/')[1]}")
    item = page.locator("li.repo-item", has_text=greeter)
    assert item.locator(".stage-badge").inner_text() == "Running"
    assert item.locator(".chip.sdk").inner_text() == "gradio"
