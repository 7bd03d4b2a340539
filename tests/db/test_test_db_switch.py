"""``MODELYARD_TEST_DB=postgres`` really moves the hubs the tests start onto PostgreSQL (and off it otherwise)."""

from __future__ import annotations

from typing import Any

from _postgres import on_postgres


def test_hubs_use_the_chosen_database(live_server: Any, hub_factory: Any) -> None:
    expected = "postgresql" if on_postgres() else "sqlite"
    extra = hub_factory()
    assert live_server.services.db.engine.dialect.name == expected
    assert extra.services.db.engine.dialect.name == expected
    if on_postgres():  # a database of its own per hub: the second hub starts empty of the first's repos
        assert live_server.settings.database_url != extra.settings.database_url
        live_server.api().create_repo("only-on-the-session-hub", exist_ok=True)
        assert [m.id for m in extra.api().list_models(author="alice")] == []
