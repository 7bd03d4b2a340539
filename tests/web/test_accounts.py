"""Accounts in Chromium (JavaScript on): sign-up by invite, password login, profile, password change and reset,
tokens (shown once), organisations (create, members, roles, invites) and the admin page; axe-core on each page,
the login and sign-up pages at phone size, screenshots for docs/web.md (account-*)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.web._browser import DESKTOP, axe, login, login_password, no_sideways_scroll, shot

from modelyard.hub import passwords
from modelyard.hub.signup import Signup

PW = "correct horse battery"


@pytest.fixture(scope="module")
def hub(hub_factory: Any) -> Any:
    h = hub_factory()
    acc = h.services.accounts
    acc.create("root", "Root Admin", is_admin=True, password_hash=passwords.hash_password(PW))
    return h


def _user(hub: Any, prefix: str = "u") -> str:
    name = prefix + uuid.uuid4().hex[:6]
    hub.services.accounts.create(name, name.title(), password_hash=passwords.hash_password(PW))
    return name


@pytest.fixture
def second(browser: Any) -> Iterator[Any]:
    """Another browser (its own cookies), desktop-sized; JavaScript errors and CSP violations fail the test."""
    ctx = browser.new_context(viewport=DESKTOP)
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield pg
    ctx.close()
    assert not errors, errors


def test_sign_up_by_invite_then_log_in(hub: Any, page: Any, second: Any) -> None:
    url = hub.url
    # the site admin makes an invite link on /admin (the hub is "closed": only admin invites open it)
    login_password(page, url, "root", PW)
    page.goto(f"{url}/admin")
    assert page.locator("h1").count() == 1
    page.click("button:has-text('Create invite link')")
    link = page.locator("#invite-link").input_value()
    assert "/join?invite=" in link
    axe(page)
    shot(page, "account-admin")

    # a newcomer opens it, signs up, and is logged in
    user = "newbie" + uuid.uuid4().hex[:4]
    second.goto(link)
    assert "You were invited" in second.inner_text("main")
    second.fill("input[name=username]", user)
    second.fill("input[name=fullname]", "New Bie")
    second.fill("input[name=email]", f"{user}@example.org")
    second.fill("input[name=password]", "a long enough passphrase")
    axe(second)
    shot(second, "account-join")
    second.click("button:has-text('Create account')")
    second.wait_for_url(url + "/")
    assert second.locator(f"header a.user:has-text('{user}')").count() == 1
    # the link worked once
    second.goto(link)
    assert "invalid" in second.inner_text("[role=alert]")

    # log out, then back in with the password
    second.click("button:has-text('Log out')")
    second.goto(f"{url}/login")
    second.fill("form.password-login input[name=username]", user)
    second.fill("form.password-login input[name=password]", "a wrong passphrase!")
    second.click("form.password-login button[type=submit]")
    assert second.inner_text("[role=alert]") == "Invalid username or password"
    axe(second)
    shot(second, "account-login")
    login_password(second, url, user, "a long enough passphrase")
    assert second.locator("header a.user").inner_text() == user


def test_login_and_join_on_a_phone(hub: Any, phone: Any) -> None:
    url = hub.url
    phone.goto(f"{url}/login")
    no_sideways_scroll(phone)
    axe(phone)
    shot(phone, "account-login-phone")
    phone.goto(f"{url}/join")
    assert "Sign-up is closed" in phone.inner_text("main")
    no_sideways_scroll(phone)
    axe(phone)
    user = _user(hub)
    login_password(phone, url, user, PW)
    for path in ("/settings/profile", "/settings/password", "/settings/tokens"):
        phone.goto(url + path)
        no_sideways_scroll(phone)
    axe(phone)


def test_profile_and_password(hub: Any, page: Any, second: Any) -> None:
    url = hub.url
    user = _user(hub)
    login_password(page, url, user, PW)
    login_password(second, url, user, PW)
    page.goto(f"{url}/settings/profile")
    page.fill("#profile-form input[name=fullname]", "Renamed Person")
    page.fill("#profile-form input[name=email]", "not-an-email")
    page.click("#profile-form button[type=submit]")
    # the browser's own validation stops a bad email first; without it the server answers 400
    assert page.url.endswith("/settings/profile")
    page.fill("#profile-form input[name=email]", "me@example.org")
    page.click("#profile-form button[type=submit]")
    page.wait_for_url("**/settings/profile?saved=1")
    assert page.input_value("#profile-form input[name=fullname]") == "Renamed Person"
    axe(page)

    page.goto(f"{url}/settings/password")
    page.fill("input[name=current_password]", PW)
    page.fill("input[name=new_password]", "the second passphrase")
    page.fill("input[name=confirm_password]", "the second passphrase")
    page.click("#password-form button[type=submit]")
    page.wait_for_url("**/settings/password?saved=1")
    assert "other sessions were logged out" in page.inner_text("[role=status]")
    axe(page)
    second.goto(f"{url}/settings/profile")  # the other browser's session ended
    assert "/login" in second.url

    # an admin-issued reset link sets a new one (and ends every session)
    root = hub.services.accounts.principal_for(hub.services.accounts.get("root"), "web")
    code = Signup(hub.services.db, hub.services.accounts).create_reset(root, user)
    second.goto(f"{url}/reset-password/{code}")
    assert user in second.inner_text("h1")
    second.fill("input[name=new_password]", "the third passphrase")
    second.fill("input[name=confirm_password]", "the third passphrase")
    axe(second)
    second.click("#reset-form button[type=submit]")
    second.wait_for_url(f"**/login?username={user}")
    assert second.input_value("form.password-login input[name=username]") == user
    page.goto(f"{url}/settings/profile")
    assert "/login" in page.url
    login_password(second, url, user, "the third passphrase")


def test_tokens_page(hub: Any, page: Any) -> None:
    url = hub.url
    user = _user(hub)
    login_password(page, url, user, PW)
    page.goto(f"{url}/settings/tokens")
    fine = page.locator("[data-fine-grained]")
    assert not fine.is_visible()  # shown only for the fine-grained role (account.js)
    page.fill("#new-token-form input[name=name]", "ci-reader")
    page.select_option("#new-token-form select[name=role]", "fineGrained")
    assert fine.is_visible()
    page.select_option("#new-token-form select[name=scope_kind]", "model")
    page.fill("#new-token-form input[name=scope_name]", f"{user}/my-model")
    page.check("#new-token-form input[name=scope_perms][value='repo.content.read']")
    page.fill("#new-token-form input[name=expires_in_days]", "30")
    page.click("#new-token-form button[type=submit]")
    token = page.locator("#new-token-value").input_value()
    assert token.startswith("hf_")
    me = httpx.get(f"{url}/api/whoami-v2", headers={"authorization": f"Bearer {token}"}).json()
    assert me["name"] == user and me["auth"]["accessToken"]["role"] == "fineGrained"
    row = page.locator("tr:has-text('ci-reader')")
    assert "repo.content.read" in row.inner_text() and f"{user}/my-model" in row.inner_text()
    axe(page)
    shot(page, "account-tokens")
    # shown once: the list page never has it
    page.goto(f"{url}/settings/tokens")
    assert page.locator("#new-token-value").count() == 0 and token not in page.content()
    # a write token, then revoke the fine-grained one
    page.fill("#new-token-form input[name=name]", "laptop")
    page.select_option("#new-token-form select[name=role]", "write")
    page.click("#new-token-form button[type=submit]")
    assert page.locator("#new-token-value").input_value().startswith("hf_")
    page.click("button[aria-label='Revoke token ci-reader']")
    page.wait_for_url(f"{url}/settings/tokens")
    assert page.locator("tr:has-text('ci-reader')").count() == 0
    assert httpx.get(f"{url}/api/whoami-v2", headers={"authorization": f"Bearer {token}"}).status_code == 401


def test_read_token_session_cannot_make_tokens(hub: Any, page: Any) -> None:
    login(page, hub.url, hub.alice_read)
    page.goto(f"{hub.url}/settings/tokens")
    assert page.locator("#new-token-form").count() == 0 and "read token" in page.inner_text("main")
    assert page.locator("button:has-text('Revoke')").count() == 0


def test_organization_members(hub: Any, page: Any, second: Any) -> None:
    url = hub.url
    owner, friend = _user(hub), _user(hub)
    org = "org" + uuid.uuid4().hex[:6]
    login_password(page, url, owner, PW)
    page.goto(f"{url}/organizations/new")
    page.fill("#new-org-form input[name=name]", org)
    page.fill("#new-org-form input[name=fullname]", "The Org")
    axe(page)
    page.click("#new-org-form button[type=submit]")
    page.wait_for_url(f"{url}/organizations/{org}/settings/members")
    assert "admin" in page.locator(f"tr:has-text('{owner}') select").input_value()

    # an invite link for the "write" role, accepted by a logged-in user in another browser
    page.select_option("#org-invite-form select[name=role]", "write")
    page.click("#org-invite-form button:has-text('Create invite link')")
    link = page.locator("#invite-link").input_value()
    assert re.search(r"/invite/[\w-]+$", link)
    login_password(second, url, friend, PW)
    second.goto(link)
    axe(second)
    second.click(f"button:has-text('Join {org}')")
    second.wait_for_url(f"{url}/{org}")
    second.goto(f"{url}/organizations/{org}/settings/members")  # a write member is not an admin
    assert "403" in second.inner_text("main") or "admin" in second.inner_text("main")

    # the admin sees the new member, makes them a contributor, and the page says so
    page.goto(f"{url}/organizations/{org}/settings/members")
    select = page.locator(f"select[aria-label='Role of {friend}']")
    assert select.input_value() == "write"
    select.select_option("contributor")
    page.click(f"button[aria-label='Change the role of {friend}']")
    page.wait_for_url(f"{url}/organizations/{org}/settings/members")
    assert page.locator(f"select[aria-label='Role of {friend}']").input_value() == "contributor"
    axe(page)
    shot(page, "account-org-members")
    # the last admin cannot remove themselves
    page.click(f"button[aria-label='Remove {owner} from {org}']")
    assert "last admin" in page.inner_text("[role=alert]")
    page.goto(f"{url}/settings/profile")
    assert org in page.inner_text(".org-list")
