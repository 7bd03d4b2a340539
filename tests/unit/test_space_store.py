"""hub/spaces.py SpaceStore on a real (SQLite) database: settings, secrets encrypted at rest, variables, the key
rules, what a repo deletion or rename does to them, and the subdomain lookup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from modelyard.config import Settings
from modelyard.db import migrate
from modelyard.db.schema import space_secrets, space_settings, space_variables
from modelyard.errors import BadRequest
from modelyard.hub.accounts import Principal
from modelyard.hub.spaces import MAX_ENTRIES, MAX_VALUE_BYTES, SpaceSettings, SpaceStore
from modelyard.server.services import Services
from modelyard.spaces.urls import subdomain
from modelyard.types import RepoType


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    s = Services.build(Settings(data_dir=str(tmp_path)))
    migrate.upgrade(s.db)
    yield s
    s.close()


def _who(svc: Services, name: str = "alice") -> Principal:
    return Principal(svc.accounts.create(name), "t", "write")


def test_settings_round_trip(svc: Services) -> None:
    who = _who(svc)
    repo = svc.repos.create(who, RepoType.SPACE, "demo", sdk="gradio")
    store = svc.spaces
    assert store.get(repo.id) == SpaceSettings()
    store.set_sleep_time(repo.id, 300)
    store.set_hardware(repo.id, "cpu-basic")
    store.set_paused(repo.id, True)
    assert store.get(repo.id) == SpaceSettings(sleep_time=300, hardware="cpu-basic", paused=True)
    store.set_sleep_time(repo.id, -1)
    store.set_paused(repo.id, False)
    assert store.get(repo.id) == SpaceSettings(sleep_time=-1, hardware="cpu-basic", paused=False)
    store.set_sleep_time(repo.id, None)
    assert store.get(repo.id).sleep_time is None
    for bad in (-2, 2**40, "10", True, 1.5):
        with pytest.raises(BadRequest):
            store.set_sleep_time(repo.id, bad)  # type: ignore[arg-type]
    for flavor in ("", "T4 medium", "../x", "a" * 100):
        with pytest.raises(BadRequest):
            store.set_hardware(repo.id, flavor)


def test_secrets_are_encrypted_and_never_listed(svc: Services) -> None:
    who = _who(svc)
    repo = svc.repos.create(who, RepoType.SPACE, "demo", sdk="gradio")
    store = svc.spaces
    value = "sk-very-secret-value-1234567890"
    store.add_secret(repo.id, "API_KEY", value, "the model provider")
    store.add_secret(repo.id, "OTHER", "ünïcode ✓")
    listed = store.secrets(repo.id)
    assert set(listed) == {"API_KEY", "OTHER"}
    assert listed["API_KEY"].description == "the model provider"
    assert listed["API_KEY"].updated_at.endswith("Z")
    assert value not in repr(listed)
    assert store.secret_values(repo.id) == {"API_KEY": value, "OTHER": "ünïcode ✓"}
    with svc.db.read() as conn:
        rows = conn.execute(select(space_secrets)).all()
    for row in rows:  # nothing of the plain text at rest
        assert value.encode() not in bytes(row.ciphertext) and value.encode() not in bytes(row.nonce)
    # replacing keeps the description unless a new one is given; the nonce changes
    old_nonce = next(bytes(r.nonce) for r in rows if r.key == "API_KEY")
    store.add_secret(repo.id, "API_KEY", "new-value")
    assert store.secrets(repo.id)["API_KEY"].description == "the model provider"
    assert store.secret_values(repo.id)["API_KEY"] == "new-value"
    with svc.db.read() as conn:
        nonce = conn.execute(
            select(space_secrets.c.nonce).where(space_secrets.c.key == "API_KEY")
        ).scalar_one()
    assert bytes(nonce) != old_nonce
    store.delete_secret(repo.id, "API_KEY")
    store.delete_secret(repo.id, "API_KEY")  # idempotent
    assert set(store.secrets(repo.id)) == {"OTHER"}


def test_ciphertext_is_bound_to_its_space_and_key(svc: Services) -> None:
    """A ciphertext copied to another key or Space does not decrypt (associated data), nor under another key."""
    who = _who(svc)
    a = svc.repos.create(who, RepoType.SPACE, "a", sdk="gradio")
    b = svc.repos.create(who, RepoType.SPACE, "b", sdk="gradio")
    store = svc.spaces
    store.add_secret(a.id, "TOKEN", "alpha-secret")
    store.add_secret(b.id, "TOKEN", "beta-secret")
    store.add_secret(b.id, "OTHER", "gamma-secret")
    with svc.db.transaction() as conn:
        row = conn.execute(
            select(space_secrets).where(space_secrets.c.repo_id == a.id, space_secrets.c.key == "TOKEN")
        ).one()
        for key in ("TOKEN", "OTHER"):
            conn.execute(
                update(space_secrets)
                .where(space_secrets.c.repo_id == b.id, space_secrets.c.key == key)
                .values(nonce=row.nonce, ciphertext=row.ciphertext)
            )
    assert store.secret_values(b.id) == {}
    other = SpaceStore(svc.db, b"\x01" * 32)  # another server secret
    assert other.secret_values(a.id) == {}
    assert store.secret_values(a.id) == {"TOKEN": "alpha-secret"}


@pytest.mark.parametrize(
    "key",
    [
        "A B",
        "../x",
        "x" * 10_000,
        "",
        "1ABC",
        "A-B",
        "A=B",
        "A\nB",
        "HF_ENDPOINT",
        "hf_endpoint",
        "PATH",
        "HOME",
        "SPACE_ID",
        "SYSTEM",
        "PYTHONPATH",
        "LD_PRELOAD",
        "GRADIO_ROOT_PATH",
        "STREAMLIT_SERVER_PORT",
    ],
)
def test_hostile_and_reserved_keys(svc: Services, key: str) -> None:
    repo = svc.repos.create(_who(svc), RepoType.SPACE, "demo", sdk="gradio")
    with pytest.raises(BadRequest) as e:
        svc.spaces.add_secret(repo.id, key, "v")
    assert len(e.value.message) < 400  # a 10 KB key is not echoed back
    with pytest.raises(BadRequest):
        svc.spaces.add_variable(repo.id, key, "v")
    assert svc.spaces.secrets(repo.id) == {} and svc.spaces.variables(repo.id) == {}


def test_values_descriptions_and_counts(svc: Services) -> None:
    repo = svc.repos.create(_who(svc), RepoType.SPACE, "demo", sdk="gradio")
    store = svc.spaces
    store.add_variable(repo.id, "BIG", "x" * MAX_VALUE_BYTES)
    for bad_value in (
        "x" * (MAX_VALUE_BYTES + 1),
        "é" * (MAX_VALUE_BYTES // 2 + 1),
        "a\x00b",
        12,
        None,
        "\ud800",
    ):
        with pytest.raises(BadRequest):
            store.add_variable(repo.id, "V", bad_value)  # type: ignore[arg-type]
        with pytest.raises(BadRequest):
            store.add_secret(repo.id, "S", bad_value)  # type: ignore[arg-type]
    for bad_desc in ("d" * 5000, 3):
        with pytest.raises(BadRequest):
            store.add_variable(repo.id, "V", "v", bad_desc)  # type: ignore[arg-type]
    for i in range(MAX_ENTRIES - 1):
        store.add_variable(repo.id, f"V{i}", "v")
    with pytest.raises(BadRequest, match="Too many"):
        store.add_variable(repo.id, "ONE_TOO_MANY", "v")
    store.add_variable(repo.id, "V0", "replaced")  # replacing is not adding
    assert store.variables(repo.id)["V0"].value == "replaced"


def test_a_key_is_a_secret_or_a_variable(svc: Services) -> None:
    repo = svc.repos.create(_who(svc), RepoType.SPACE, "demo", sdk="gradio")
    store = svc.spaces
    store.add_secret(repo.id, "SHARED", "s3cret-value")
    with pytest.raises(BadRequest, match="already a secret"):
        store.add_variable(repo.id, "SHARED", "v")
    store.add_variable(repo.id, "PLAIN", "v", "desc")
    with pytest.raises(BadRequest, match="already a variable"):
        store.add_secret(repo.id, "PLAIN", "v")
    store.delete_secret(repo.id, "SHARED")
    store.add_variable(repo.id, "SHARED", "now a variable")
    assert {k: v.value for k, v in store.variables(repo.id).items()} == {
        "PLAIN": "v",
        "SHARED": "now a variable",
    }
    assert store.variables(repo.id)["PLAIN"].description == "desc"


def test_rename_keeps_and_delete_drops(svc: Services) -> None:
    who = _who(svc)
    repo = svc.repos.create(who, RepoType.SPACE, "demo", sdk="gradio")
    store = svc.spaces
    store.add_secret(repo.id, "TOKEN", "secret-value")
    store.add_variable(repo.id, "MODE", "fast")
    store.set_sleep_time(repo.id, 600)
    moved = svc.repos.move(who, RepoType.SPACE, "alice/demo", "alice/renamed")
    assert moved.id == repo.id
    assert store.secret_values(moved.id) == {"TOKEN": "secret-value"}
    assert store.get(moved.id).sleep_time == 600
    svc.repos.delete(who, RepoType.SPACE, "alice", "renamed")
    with svc.db.read() as conn:
        for table in (space_settings, space_secrets, space_variables):
            assert conn.execute(select(table).where(table.c.repo_id == repo.id)).first() is None
    again = svc.repos.create(who, RepoType.SPACE, "renamed", sdk="gradio")
    assert store.secrets(again.id) == {} and store.get(again.id) == SpaceSettings()


def test_copy_variables(svc: Services) -> None:
    who = _who(svc)
    src = svc.repos.create(who, RepoType.SPACE, "src", sdk="gradio")
    dst = svc.repos.create(who, RepoType.SPACE, "dst", sdk="gradio")
    svc.spaces.add_variable(src.id, "MODE", "fast", "how fast")
    svc.spaces.add_secret(src.id, "TOKEN", "secret-value")
    svc.spaces.copy_variables(src.id, dst.id)
    assert {k: (v.value, v.description) for k, v in svc.spaces.variables(dst.id).items()} == {
        "MODE": ("fast", "how fast")
    }
    assert svc.spaces.secrets(dst.id) == {}


def test_find_by_subdomain(svc: Services) -> None:
    who = _who(svc, "Al_ice")
    first = svc.repos.create(who, RepoType.SPACE, "My.Demo_1", sdk="gradio")
    svc.repos.create(who, RepoType.MODEL, "model-x")
    sub = subdomain("Al_ice", "My.Demo_1")
    assert sub == "al-ice-my-demo-1"
    assert svc.spaces.find_by_subdomain(sub) == ("Al_ice", "My.Demo_1")
    assert svc.spaces.find_by_subdomain("al-ice-model-x") is None  # models have no subdomain
    assert svc.spaces.find_by_subdomain("nobody-here") is None
    assert svc.spaces.find_by_subdomain("AL-ICE-MY-DEMO-1") is None  # hosts arrive in lower case
    assert svc.spaces.find_by_subdomain("%") is None and svc.spaces.find_by_subdomain("a_b") is None
    # a newer Space with the same subdomain (Al_ice-My/Demo_1) does not take it over
    later = svc.repos.create(_who(svc, "Al_ice-My"), RepoType.SPACE, "Demo_1", sdk="static")
    assert subdomain("Al_ice-My", "Demo_1") == sub and later.id > first.id
    assert svc.spaces.find_by_subdomain(sub) == ("Al_ice", "My.Demo_1")
