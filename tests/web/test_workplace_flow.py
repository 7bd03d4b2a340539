"""The whole working day in the browser (issue 12's "Done when"), one chain in Chromium with JavaScript on:

sign up by invite -> log in -> create a token -> create a model -> upload weights and a card -> edit the card ->
another account opens a PR -> comment -> merge -> deploy -> use the widget; then gated: request -> approve ->
download. Every step goes through the pages (no API shortcut for what the step is about); the API is used only to
check what the step did, the way a user of the official client would see it."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.web._browser import DESKTOP, axe, login, login_password, shot

pytestmark = pytest.mark.timeout(600)


def _new_page(browser: Any) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(viewport=DESKTOP)
    page = ctx.new_page()
    page.set_default_timeout(30000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return ctx, page, errors


def test_a_working_day_in_the_browser(browser: Any, hub_factory: Any, tiny_model_dir: Path) -> None:
    hub = hub_factory()
    url = hub.url
    hub.services.accounts.set_admin("alice")
    user, password = f"carol{uuid.uuid4().hex[:4]}", "a long enough passphrase 42"
    repo = f"{user}/day-model"
    contexts = []
    try:
        # the admin makes an invite link
        actx, admin, admin_errors = _new_page(browser)
        contexts.append((actx, admin_errors))
        login(admin, url, hub.alice)
        admin.goto(f"{url}/admin")
        axe(admin)
        admin.click("button:has-text('Create invite link')")
        invite = admin.locator("#invite-link").input_value() or admin.locator("#invite-link").inner_text()
        assert "invite=" in invite or "/invite/" in invite, invite

        # sign up by invite, log out, log in with the password
        cctx, page, carol_errors = _new_page(browser)
        contexts.append((cctx, carol_errors))
        page.goto(invite.strip())
        page.fill("input[name=username]", user)
        page.fill("input[name=fullname]", "Carol C.")
        page.fill("input[name=email]", f"{user}@example.org")
        page.fill("input[name=password]", password)
        page.click("button:has-text('Create account')")
        page.wait_for_url(f"{url}/**")
        page.click("button:has-text('Log out')")
        login_password(page, url, user, password)

        # a token, shown once, that the official client accepts
        page.goto(f"{url}/settings/tokens")
        page.fill("#new-token-form input[name=name]", "laptop")
        page.select_option("#new-token-form select[name=role]", "write")
        page.click("#new-token-form button[type=submit]")
        value = page.locator("#new-token-value")
        token = (value.input_value() if value.evaluate("e => 'value' in e") else value.inner_text()).strip()
        from huggingface_hub import HfApi, hf_hub_download
        from huggingface_hub.errors import GatedRepoError

        assert HfApi(endpoint=url, token=token).whoami()["name"] == user
        shot(page, "flow-token")

        # a new model, weights and a card uploaded in the browser
        page.goto(f"{url}/new")
        page.fill("#new-repo-form input[name=name]", "day-model")
        page.click("button:has-text('Create repository')")
        page.wait_for_url(f"**/{repo}")
        page.goto(f"{url}/{repo}/upload/main")
        files = sorted(p for p in tiny_model_dir.iterdir() if p.is_file())
        readme = tiny_model_dir.parent / "flow-README.md"
        readme.write_text("---\npipeline_tag: text-classification\nlicense: mit\n---\n# Day model\n")
        page.set_input_files("#upload-files", [str(p) for p in files] + [str(readme)])
        page.fill("input[name=summary]", "Upload the weights")
        page.click("button:has-text('Commit changes')")
        page.wait_for_url(f"**/{repo}/tree/main", timeout=120000)
        api = HfApi(endpoint=url, token=token)
        listed = set(api.list_repo_files(repo))
        assert {p.name for p in files} <= listed, listed
        weights = next(p for p in files if p.suffix == ".safetensors")
        got = hf_hub_download(
            repo, weights.name, endpoint=url, token=token, cache_dir=str(readme.parent / "c1")
        )
        assert Path(got).read_bytes() == weights.read_bytes()

        # edit the card (the uploaded flow-README.md becomes README.md through the editor's "new file")
        page.goto(f"{url}/{repo}/new/main")
        page.fill("input[name=path]", "README.md")
        page.fill("textarea[name=content]", readme.read_text())
        page.fill("input[name=summary]", "Add the card")
        page.click("button:has-text('Commit changes')")
        page.goto(f"{url}/{repo}/edit/main/README.md")
        editor = page.locator("#card-editor")
        body = editor.locator("textarea[name=content]")
        body.fill(body.input_value() + "\n\nIt classifies **moods**.\n")
        page.wait_for_selector("#card-preview strong:has-text('moods')")
        page.fill("input[name=summary]", "Describe the model")
        page.click("button:has-text('Commit changes')")
        page.wait_for_url(f"**/{repo}**")
        card = Path(api.hf_hub_download(repo, "README.md", cache_dir=str(readme.parent / "c3"))).read_text()
        assert "It classifies **moods**." in card

        # bob opens a PR from the editor, comments; carol comments and merges
        bctx, bob, bob_errors = _new_page(browser)
        contexts.append((bctx, bob_errors))
        login(bob, url, hub.bob)
        bob.goto(f"{url}/{repo}/edit/main/README.md")
        bbody = bob.locator("#card-editor textarea[name=content]")
        bbody.fill(bbody.input_value() + "\nLimitations: tiny.\n")
        bob.fill("input[name=summary]", "Add limitations")
        if bob.locator("input[name=create_pr][type=checkbox]").count():  # bob may only propose: always a PR
            bob.check("input[name=create_pr]")
        bob.click("button:has-text('Commit changes')")
        bob.wait_for_url(f"**/{repo}/discussions/*")
        num = int(bob.url.rstrip("/").rsplit("/", 1)[1])
        bob.fill("#comment-form textarea[name=comment]", "Please have a look")
        bob.click("#comment-form button[type=submit]")
        bob.wait_for_selector("text=Please have a look")
        page.goto(f"{url}/{repo}/discussions")
        page.click(f"a[href$='/discussions/{num}']")
        page.goto(f"{url}/{repo}/discussions/{num}/files")
        assert "Limitations: tiny." in page.locator("main").inner_text()
        page.goto(f"{url}/{repo}/discussions/{num}")
        page.fill("#comment-form textarea[name=comment]", "Thanks, merging")
        page.click("#comment-form button[type=submit]")
        page.wait_for_selector("text=Thanks, merging")
        page.click("#merge-form button[type=submit]")
        page.wait_for_selector("text=merged", timeout=30000)
        card = Path(api.hf_hub_download(repo, "README.md", cache_dir=str(readme.parent / "c4"))).read_text()
        assert "Limitations: tiny." in card

        # deploy from the model page and use the widget
        page.goto(f"{url}/{repo}")
        page.click("a.deploy")
        page.wait_for_selector("#deploy-form")
        page.click("#deploy-form button:has-text('Deploy')")
        page.wait_for_url("**/inference-endpoints/*")
        name = page.url.rstrip("/").rsplit("/", 1)[1]
        try:
            deadline = time.monotonic() + 180
            while httpx.get(f"{url}/endpoints/{name}/health").status_code != 200:
                assert time.monotonic() < deadline, "endpoint did not load"
                time.sleep(0.5)
            page.goto(f"{url}/{repo}")
            widget = page.locator("#inference-widget")
            widget.wait_for(state="visible")
            widget.locator("textarea").fill("what a happy day")
            widget.locator("button:has-text('Compute')").click()
            page.wait_for_selector("#inference-widget .widget-output .bar", timeout=60000)
            shot(page, "flow-widget")
        finally:
            httpx.delete(
                f"{url}/endpoints/-/api/endpoints/{name}", headers={"authorization": f"Bearer {token}"}
            )

        # gated: carol gates the repo, bob asks, carol approves, bob downloads
        page.goto(f"{url}/{repo}/settings")
        page.select_option("#gating select[name=gated]", "manual")
        page.click("#gating button[type=submit]")
        bob.goto(f"{url}/{repo}")
        bob.click("#gate button[type=submit]")
        with pytest.raises(GatedRepoError):
            hf_hub_download(
                repo, "config.json", endpoint=url, token=hub.bob, cache_dir=str(readme.parent / "c5")
            )
        page.goto(f"{url}/{repo}/settings/gated-user-access")
        page.click("button:has-text('Accept')")
        got = hf_hub_download(
            repo, "config.json", endpoint=url, token=hub.bob, cache_dir=str(readme.parent / "c6")
        )
        assert Path(got).read_bytes() == (tiny_model_dir / "config.json").read_bytes()
    finally:
        errors = []
        for ctx, errs in contexts:
            ctx.close()
            errors += errs
    assert not errors, errors
