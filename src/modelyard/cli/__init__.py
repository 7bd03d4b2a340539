"""The `modelyard` command: server side (serve, db, users, tokens) and client side (deploy)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from modelyard.errors import HubError


def _settings(ctx: click.Context, **cli: Any) -> Any:
    from modelyard import config

    file = ctx.obj.get("config") if ctx.obj else None
    return config.load(cli=cli, env=os.environ, file=file)


def _fail(e: HubError) -> None:
    click.echo(f"Error ({e.code}): {e.message}", err=True)
    sys.exit(2)


@click.group()
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TOML settings file.",
)
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """ModelYard: a self-hostable, Hugging Face Hub-compatible model hub."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_file


@main.command()
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8080; 0 = any free port).")
@click.option("--data-dir", default=None, help="Data directory (default ./data).")
@click.option("--database-url", default=None, help="SQLAlchemy URL (default SQLite in the data dir).")
@click.option("--public-url", default=None, help="Base URL clients use.")
@click.option("--seed/--no-seed", default=None, help="Create a demo user, token and repos.")
@click.option("--migrate/--no-migrate", default=False, help="Upgrade the database schema on start.")
@click.pass_context
def serve(ctx: click.Context, /, migrate: bool, **opts: Any) -> None:
    """Run the hub server."""
    import uvicorn

    from modelyard.server.app import create_app
    from modelyard.server.edge import limited_httptools_protocol
    from modelyard.storage.ingest import tune_malloc

    tune_malloc()  # before any thread starts: 2 malloc arenas, which trim_heap empties after large uploads
    settings = _settings(ctx, **opts)
    app = create_app(settings, auto_migrate=migrate)
    click.echo(f"ModelYard hub on http://{settings.host}:{settings.port} (data in {settings.data_dir})")
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=limited_httptools_protocol(settings.max_header_size),  # httptools, 431 past the head limit
        h11_max_incomplete_event_size=settings.max_header_size,  # the same cap if run with h11
        loop="asyncio",
        timeout_keep_alive=30,
    )


@main.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Upgrade the database schema to the latest revision."""
    from modelyard.db import Database, migrate

    s = _settings(ctx)
    migrate.upgrade(Database(s.resolved_database_url))
    click.echo("Database is up to date.")


@db.command("check")
@click.pass_context
def db_check(ctx: click.Context) -> None:
    """Exit 1 if the database schema is not current."""
    from modelyard.db import Database, migrate

    d = Database(_settings(ctx).resolved_database_url)
    if not migrate.is_current(d):
        click.echo(
            f"Schema at {migrate.current_revision(d)}, expected {migrate.head_revision(d)}: run `modelyard db upgrade`."
        )
        sys.exit(1)
    click.echo("Database schema is current.")


def _accounts(ctx: click.Context) -> Any:
    from modelyard.db import Database, migrate
    from modelyard.hub.accounts import Accounts

    s = _settings(ctx)
    d = Database(s.resolved_database_url)
    if migrate.is_empty(d):
        migrate.upgrade(d)
    return Accounts(d)


@main.group()
def users() -> None:
    """Manage users and organizations."""


@users.command("create")
@click.argument("name")
@click.option("--fullname", default="")
@click.option("--org", is_flag=True, help="Create an organization instead of a user.")
@click.option("--member", multiple=True, help="(orgs) users to add as members.")
@click.option(
    "--admin", is_flag=True, help="An admin user: sees every inference endpoint in listings and metrics."
)
@click.pass_context
def users_create(
    ctx: click.Context, name: str, fullname: str, org: bool, member: tuple[str, ...], admin: bool
) -> None:
    """Create a user (or an organization with --org)."""
    if admin and org:
        raise click.UsageError("--admin applies to users, not organizations")
    acc = _accounts(ctx)
    try:
        a = acc.create(name, fullname, "org" if org else "user", is_admin=admin)
        for m in member:
            acc.add_member(name, m)
    except HubError as e:
        _fail(e)
    click.echo(f"Created {'admin ' if a.is_admin else ''}{a.kind} {a.name}")


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    for a in _accounts(ctx).list():
        click.echo(f"{a.kind}\t{a.name}\t{a.fullname}" + ("\tadmin" if a.is_admin else ""))


@main.group()
def tokens() -> None:
    """Manage access tokens (stored hashed; shown once)."""


@tokens.command("create")
@click.argument("user")
@click.option("--name", default="default", help="Token display name.")
@click.option("--role", type=click.Choice(["read", "write"]), default="write")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def tokens_create(ctx: click.Context, user: str, name: str, role: str, fmt: str) -> None:
    """Create an access token for USER and print it."""
    try:
        tok = _accounts(ctx).create_token(user, name, role)
    except HubError as e:
        _fail(e)
    click.echo(json.dumps({"token": tok, "user": user, "name": name, "role": role}) if fmt == "json" else tok)


@tokens.command("revoke")
@click.argument("user")
@click.argument("name")
@click.pass_context
def tokens_revoke(ctx: click.Context, user: str, name: str) -> None:
    n = _accounts(ctx).revoke_token(user, name)
    click.echo(f"Revoked {n} token(s)")


@main.command()
@click.option(
    "--min-age-hours",
    type=float,
    default=24.0,
    show_default=True,
    help="Only remove unreferenced blobs and temp files older than this.",
)
@click.option("--dry-run", is_flag=True, help="Report what would be removed.")
@click.pass_context
def gc(ctx: click.Context, min_age_hours: float, dry_run: bool) -> None:
    """Remove blobs that nothing references any more (deleted repos, abandoned uploads)."""
    from modelyard.hub.gc import sweep
    from modelyard.server.services import Services

    svc = Services.build(_settings(ctx))
    r = sweep(svc.files, svc.xet, min_age_s=min_age_hours * 3600, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{r.blobs} blobs: {r.referenced} referenced, {r.young} too young; {verb} {r.deleted} "
        f"({r.freed_bytes / 1e6:.1f} MB) and {r.temp_deleted} temp files"
    )


def _register_optional() -> None:
    try:
        from modelyard.cli.deploy import deploy
    except ImportError:
        return
    main.add_command(deploy)


_register_optional()
