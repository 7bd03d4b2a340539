"""Pages read without JavaScript (issue 12: interaction is progressive enhancement): with scripts off, the main
pages render their content, and the plain forms (log in, like, comment) still work by POST and redirect."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.web._browser import DESKTOP
from tests.web.conftest import WebRepos


@pytest.fixture
def nojs(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = ctx.new_page()
    page.set_default_timeout(15000)
    yield page
    ctx.close()


def test_reading_without_javascript(nojs: Any, web_repos: WebRepos) -> None:
    url, model, dataset = web_repos.url, web_repos.model, web_repos.dataset
    name = model.split("/")[1]
    pages = {
        "/": "#results",
        f"/models?search={name}": "#results",
        f"/search?q={name}": "main h1",
        f"/{model}": "#model-card",
        f"/{model}/tree/main": "#files",
        f"/{model}/blob/main/config.json": "#blob",
        f"/{model}/commits/main": "#commits",
        f"/{model}/discussions": "main h1",
        f"/datasets/{dataset}/viewer": "table.rows",
        "/alice": "main h1",
        "/login": "form.token-login",
    }
    for path, selector in pages.items():
        r = nojs.goto(url + path)
        assert r is not None and r.status == 200, path
        assert nojs.locator(selector).first.is_visible(), f"{path}: {selector} not shown without JavaScript"
        assert nojs.locator("h1").count() == 1, path


def test_forms_without_javascript(nojs: Any, web_repos: WebRepos, live_server: Any) -> None:
    url, model = web_repos.url, web_repos.model
    nojs.goto(f"{url}/login?next=/{model}")
    nojs.fill("form.token-login input[name=token]", live_server.bob)
    nojs.click("form.token-login button[type=submit]")
    nojs.wait_for_url(f"**/{model}")
    before = live_server.api().model_info(model).likes
    nojs.click(".likebtn")
    nojs.wait_for_url(f"**/{model}")
    assert live_server.api().model_info(model).likes == before + 1
    nojs.click(".likebtn")  # and back, so other tests see the count they expect
    nojs.wait_for_url(f"**/{model}")
    assert live_server.api().model_info(model).likes == before
    nojs.goto(f"{url}/{model}/discussions/new")
    nojs.fill("input[name=title]", "Asked without JavaScript")
    nojs.fill("textarea[name=description]", "Plain *form* post")
    nojs.click("button:has-text('Create discussion')")
    nojs.wait_for_url(f"**/{model}/discussions/*")
    assert "Asked without JavaScript" in nojs.locator("main").inner_text()
