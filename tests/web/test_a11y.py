"""axe-core (serious and critical violations fail) on the main pages, at desktop (1440x900) and phone (390x844)
sizes, anonymous and logged in; the like button and the skip link are labelled and usable from the keyboard."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from tests.web import _browser
from tests.web.test_search_mobile import Site, login, site  # noqa: F401  (the module's repos)

pytestmark = pytest.mark.skipif(
    not os.path.exists(_browser.CHROMIUM), reason="/usr/bin/chromium missing: apt-get install chromium"
)


def _main_pages(s: Site) -> list[str]:
    sha = httpx.get(f"{s.url}/api/models/{s.model}").json()["sha"]
    m = s.model
    return [
        "/",
        f"/models?search=zq{s.tag}&license=mit",
        f"/search?q=zq{s.tag}",
        f"/{m}",
        f"/{m}/tree/main",
        f"/{m}/blob/main/config.json",
        f"/{m}/commits/main",
        f"/{m}/commit/{sha}",
        f"/datasets/{s.dataset}",
        f"/datasets/{s.dataset}/viewer",
        "/alice",
        "/acme",
        "/collections/alice",
        s.collection,
        "/login",
        "/no-such-page/at/all",
    ]


def _other_areas(s: Site) -> list[str]:
    """The pages of the other areas (accounts, editing, community, settings, endpoints), where routed."""
    m = s.model
    return [
        "/join",
        "/new",
        "/settings/profile",
        "/settings/tokens",
        f"/{m}/settings",
        f"/{m}/upload/main",
        f"/{m}/edit/main/README.md",
        f"/{m}/discussions",
        f"/{m}/discussions/{s.pr_num}",
        f"/{m}/deploy",
        "/inference-endpoints",
    ]


def _axe_all(pg: Any, s: Site, paths: list[str] | None = None) -> None:
    failed = []
    for path in paths if paths is not None else _main_pages(s):
        resp = pg.goto(s.url + path)
        if paths is not None and resp is not None and resp.status == 404:
            continue  # not routed on this hub (yet)
        try:
            _browser.axe(pg)
        except AssertionError as e:
            failed.append(str(e)[:1500])
    assert not failed, "\n".join(failed)


def test_axe_desktop_anonymous(page: Any, site: Site) -> None:  # noqa: F811
    _axe_all(page, site)


def test_axe_phone_logged_in(phone: Any, site: Site) -> None:  # noqa: F811
    login(phone, site.url, site.alice)
    _axe_all(phone, site)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_axe_other_areas_pages(browser: Any, site: Site, size: str) -> None:  # noqa: F811
    ctx = browser.new_context(
        viewport=_browser.DESKTOP if size == "desktop" else _browser.PHONE, is_mobile=size == "phone"
    )
    pg = ctx.new_page()
    try:
        login(pg, site.url, site.alice)
        _axe_all(pg, site, _other_areas(site))
    finally:
        ctx.close()


def test_like_button_label_and_skip_link(page: Any, site: Site) -> None:  # noqa: F811
    page.goto(f"{site.url}/{site.model}")
    label = page.locator(".likebtn").get_attribute("aria-label") or ""
    assert "like" in label.lower() and "♥" not in label, label
    hidden = page.locator(".skip-link").bounding_box()
    assert hidden is not None and hidden["y"] + hidden["height"] <= 0  # off screen until focused
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["y"] >= 0  # visible on focus
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
