"""The `modelyard` command: server side (serve, db, users, tokens) and client side (deploy)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from modelyard.errors import HubError
from modelyard.hub.access import ORG_ROLES


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
@click.option("--spaces-port", type=int, default=None, help="Port of the Spaces origin (default 8081).")
@click.option("--data-dir", default=None, help="Data directory (default ./data).")
@click.option("--database-url", default=None, help="SQLAlchemy URL (default SQLite in the data dir).")
@click.option("--public-url", default=None, help="Base URL clients use.")
@click.option("--seed/--no-seed", default=None, help="Create a demo user, token and repos.")
@click.option("--migrate/--no-migrate", default=False, help="Upgrade the database schema on start.")
@click.pass_context
def serve(ctx: click.Context, /, migrate: bool, **opts: Any) -> None:
    """Run the hub server (and the Spaces origin, a second listener on --spaces-port)."""
    from modelyard.server.app import create_app
    from modelyard.server.edge import limited_httptools_protocol
    from modelyard.storage.ingest import tune_malloc

    tune_malloc()  # before any thread starts: 2 malloc arenas, which trim_heap empties after large uploads
    settings = _settings(ctx, **opts)
    app = create_app(settings, auto_migrate=migrate)
    click.echo(f"ModelYard hub on http://{settings.host}:{settings.port} (data in {settings.data_dir})")
    from modelyard.server.listen import run

    run(
        app,
        settings,
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
    from modelyard.hub import audit
    from modelyard.hub.accounts import Accounts

    audit.system_actor.set(_cli_actor())  # changes made here are logged as "cli:<os user>"
    s = _settings(ctx)
    d = Database(s.resolved_database_url)
    if migrate.is_empty(d):
        migrate.upgrade(d)
    return Accounts(d)


def _cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return f"cli:{os.getuid()}"


@main.group()
def users() -> None:
    """Manage users and organizations."""


@users.command("create")
@click.argument("name")
@click.option("--fullname", default="")
@click.option("--org", is_flag=True, help="Create an organization instead of a user.")
@click.option("--member", multiple=True, help="(orgs) users to add as members.")
@click.option(
    "--member-role",
    type=click.Choice(ORG_ROLES),
    default="write",
    show_default=True,
    help="(orgs) the role of the --member users.",
)
@click.option(
    "--admin", is_flag=True, help="An admin user: sees every inference endpoint in listings and metrics."
)
@click.pass_context
def users_create(
    ctx: click.Context,
    name: str,
    fullname: str,
    org: bool,
    member: tuple[str, ...],
    member_role: str,
    admin: bool,
) -> None:
    """Create a user (or an organization with --org)."""
    if admin and org:
        raise click.UsageError("--admin applies to users, not organizations")
    acc = _accounts(ctx)
    try:
        a = acc.create(name, fullname, "org" if org else "user", is_admin=admin)
        for m in member:
            acc.add_member(name, m, member_role)
    except HubError as e:
        _fail(e)
    click.echo(f"Created {'admin ' if a.is_admin else ''}{a.kind} {a.name}")


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    for a in _accounts(ctx).list():
        click.echo(f"{a.kind}\t{a.name}\t{a.fullname}" + ("\tadmin" if a.is_admin else ""))


@users.command("set-password")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from stdin (scripts) instead of a prompt."
)
@click.pass_context
def users_set_password(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a user's web login password (stored as an argon2 hash); their web sessions end."""
    from modelyard.hub import passwords
    from modelyard.hub.sessions import Sessions

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    acc = _accounts(ctx)
    try:
        a = acc.set_password_hash(name, passwords.hash_password(password, name))
    except HubError as e:
        _fail(e)
    s = _settings(ctx)
    Sessions(acc.db, acc, s.session_idle_timeout, s.session_max_age).end_for_account(a.id)
    click.echo(f"Password set for {a.name}")


@main.group()
def invites() -> None:
    """Invite links for signing up (they work in every sign-up mode, "closed" included)."""


@invites.command("create")
@click.option("--org", default=None, help="The invitee also joins this organization.")
@click.option(
    "--role", type=click.Choice(ORG_ROLES), default="read", show_default=True, help="Their role in --org."
)
@click.option(
    "--days", type=click.IntRange(1, 90), default=7, show_default=True, help="Days the link stays valid."
)
@click.pass_context
def invites_create(ctx: click.Context, org: str | None, role: str, days: int) -> None:
    """Print a single-use sign-up link (only its sha256 is stored)."""
    from modelyard.hub.signup import Signup

    acc = _accounts(ctx)
    try:
        code = Signup(acc.db, acc).create_invite(None, org, role if org else None, days, system=True)
    except HubError as e:
        _fail(e)
    s = _settings(ctx)
    base = (s.public_url or f"http://{s.host}:{s.port}").rstrip("/")
    click.echo(f"{base}/join?invite={code}")


@main.group()
def orgs() -> None:
    """Manage organization members (roles: read, contributor, write, admin) and settings."""


@orgs.command("members")
@click.argument("org")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def orgs_members(ctx: click.Context, org: str, fmt: str) -> None:
    """List the members of ORG with their roles."""
    try:
        rows = [{"user": a.name, "fullname": a.fullname, "role": r} for a, r in _accounts(ctx).members(org)]
    except HubError as e:
        _fail(e)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        click.echo(f"{r['user']}\t{r['role']}\t{r['fullname']}")


@orgs.command("add-member")
@click.argument("org")
@click.argument("user")
@click.option("--role", type=click.Choice(ORG_ROLES), default="read", show_default=True)
@click.pass_context
def orgs_add_member(ctx: click.Context, org: str, user: str, role: str) -> None:
    """Add USER to ORG with a role."""
    acc = _accounts(ctx)
    try:
        if any(a.name.lower() == user.lower() for a, _ in acc.members(org)):
            raise click.UsageError(f"{user} is already a member of {org}: use `orgs set-role`")
        acc.add_member(org, user, role)
    except HubError as e:
        _fail(e)
    click.echo(f"Added {user} to {org} as {role}")


@orgs.command("set-role")
@click.argument("org")
@click.argument("user")
@click.argument("role", type=click.Choice(ORG_ROLES))
@click.pass_context
def orgs_set_role(ctx: click.Context, org: str, user: str, role: str) -> None:
    """Change the role of a member of ORG (the last admin cannot be demoted)."""
    acc = _accounts(ctx)
    try:
        if not any(a.name.lower() == user.lower() for a, _ in acc.members(org)):
            raise click.UsageError(f"{user} is not a member of {org}: use `orgs add-member`")
        acc.add_member(org, user, role)
    except HubError as e:
        _fail(e)
    click.echo(f"{user} is now {role} in {org}")


@orgs.command("remove-member")
@click.argument("org")
@click.argument("user")
@click.pass_context
def orgs_remove_member(ctx: click.Context, org: str, user: str) -> None:
    """Remove USER from ORG: their tokens lose its private repos at once (the last admin stays)."""
    try:
        _accounts(ctx).remove_member(org, user)
    except HubError as e:
        _fail(e)
    click.echo(f"Removed {user} from {org}")


@orgs.command("settings")
@click.argument("org")
@click.option(
    "--default-private/--default-public",
    "default_private",
    default=None,
    help="New repos created without a visibility are private (or public). Without it: show the settings.",
)
@click.pass_context
def orgs_settings(ctx: click.Context, org: str, default_private: bool | None) -> None:
    """Show or change ORG's settings."""
    acc = _accounts(ctx)
    try:
        if default_private is not None:
            acc.set_org_settings(org, default_private)
        settings = acc.org_settings(org)
    except HubError as e:
        _fail(e)
    click.echo(f"defaultRepoVisibility\t{settings['defaultRepoVisibility']}")


@main.group()
def tokens() -> None:
    """Manage access tokens (stored hashed; shown once)."""


@tokens.command("create")
@click.argument("user")
@click.option("--name", default="default", help="Token display name.")
@click.option("--role", type=click.Choice(["read", "write", "fineGrained"]), default="write")
@click.option(
    "--global", "global_perms", multiple=True, metavar="PERM", help="fineGrained: a permission everywhere."
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="TYPE:NAME=PERM[,PERM]",
    help="fineGrained: permissions on one entity (user:alice, org:acme, model:alice/x, bucket:…, endpoint:…).",
)
@click.option(
    "--can-read-gated", is_flag=True, help="fineGrained: may read gated repos it was granted access to."
)
@click.option("--expires-in", default=None, metavar="30d", help="Expire after this long (s, m, h, d, w).")
@click.option(
    "--expires-at", default=None, metavar="ISO", help="Expire at this time (ISO 8601, UTC by default)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def tokens_create(
    ctx: click.Context,
    user: str,
    name: str,
    role: str,
    global_perms: tuple[str, ...],
    scopes: tuple[str, ...],
    can_read_gated: bool,
    expires_in: str | None,
    expires_at: str | None,
    fmt: str,
) -> None:
    """Create an access token for USER and print it (shown once)."""
    from modelyard.cli._tokens import expiry, grants_from_options

    if role != "fineGrained" and (global_perms or scopes or can_read_gated):
        raise click.UsageError("--global, --scope and --can-read-gated need --role fineGrained")
    try:
        grants = grants_from_options(global_perms, scopes, can_read_gated) if role == "fineGrained" else None
        expires = expiry(expires_in, expires_at)
        tok = _accounts(ctx).create_token(user, name, role, grants, expires)
    except HubError as e:
        _fail(e)
    info: dict[str, Any] = {"token": tok, "user": user, "name": name, "role": role}
    if grants is not None:
        info["fineGrained"] = grants.to_json()
    if expires is not None:
        info["expiresAt"] = expires.isoformat()
    click.echo(json.dumps(info) if fmt == "json" else tok)


@tokens.command("list")
@click.argument("user")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def tokens_list(ctx: click.Context, user: str, fmt: str) -> None:
    """List USER's tokens (names, roles, permissions, expiry; never their values)."""
    try:
        infos = _accounts(ctx).token_infos(user)
    except HubError as e:
        _fail(e)
    if fmt == "json":
        click.echo(json.dumps(infos, indent=1))
        return
    for t in infos:
        perms = json.dumps(t["fineGrained"], sort_keys=True) if t.get("fineGrained") else ""
        line = (
            f"{t['displayName']}\t{t['role']}\t{t['createdAt']}\texpires {t['expiresAt'] or 'never'}\t{perms}"
        )
        click.echo(line.rstrip())


@tokens.command("revoke")
@click.argument("user")
@click.argument("name")
@click.pass_context
def tokens_revoke(ctx: click.Context, user: str, name: str) -> None:
    n = _accounts(ctx).revoke_token(user, name)
    click.echo(f"Revoked {n} token(s)")


@main.command()
@click.option("--org", default=None, help="Only this organization's (or user's) entries.")
@click.option("--actor", default=None, help="Only entries by this account (or 'system', 'cli:<user>').")
@click.option("--action", default=None, help="Only this action (repo.delete), or a prefix (repo.*).")
@click.option("--since", default=None, help="Only entries at or after this ISO 8601 time.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def audit(
    ctx: click.Context,
    org: str | None,
    actor: str | None,
    action: str | None,
    since: str | None,
    limit: int,
    fmt: str,
) -> None:
    """Show the audit log, newest first: who changed what, when and from where."""
    from datetime import UTC, datetime

    from modelyard.hub.audit import Audit, entry_json

    when = None
    if since:
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"{since!r} is not an ISO 8601 time", param_hint="--since") from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    entries, _ = Audit(_accounts(ctx).db).list(
        namespace=org, actor=actor, action=action, since=when, limit=limit
    )
    rows = [entry_json(e) for e in entries]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        who = r["actor"] + (f" ({r['tokenName']})" if r["tokenName"] else "")
        details = json.dumps(r["details"], sort_keys=True) if r["details"] else ""
        click.echo(f"{r['time']}\t{who}\t{r['action']}\t{r['target']}\t{r['ip'] or '-'}\t{details}".rstrip())


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


@main.command("scan-pickles")
@click.option("--repo", default=None, help="Scan this model repo's pickle files now (ns/name) and list them.")
@click.option("--revision", default="main", show_default=True)
@click.pass_context
def scan_pickles(ctx: click.Context, repo: str | None, revision: str) -> None:
    """Scan queued pickle files now (the server's worker does it in the background), or one repo's pickle files.
    With --repo, exit 1 if one of them is unsafe or unscannable (what endpoints refuse)."""
    from modelyard.hub.pickles import REFUSED
    from modelyard.server.services import Services
    from modelyard.types import RepoId, RepoType

    svc = Services.build(_settings(ctx))
    if repo is None:
        total = 0
        while done := svc.pickles.run_queued(16):
            total += done
        click.echo(f"scanned {total} queued files")
        return
    rid = RepoId.parse(repo)
    files = svc.pickles.files_at(RepoType.MODEL, rid.namespace, rid.name, revision)
    if files is None:
        click.echo(f"Error: model {repo} not found", err=True)
        sys.exit(2)
    refused = False
    for path, scan in sorted(svc.pickles.for_files(files, scan_missing=True).items()):
        status = scan.status if scan else "unscanned"
        refused = refused or status in REFUSED
        flagged = ", ".join(
            f"{i.module}.{i.name} ({i.safety})" for i in (scan.flagged_imports if scan else [])
        )
        click.echo(f"{status:<10} {path}{': ' + flagged if flagged else ''}")
    sys.exit(1 if refused else 0)


def _register_optional() -> None:
    try:
        from modelyard.cli.deploy import deploy
    except ImportError:
        return
    main.add_command(deploy)


def _register_train() -> None:  # `modelyard train` (issue 14: no-code fine-tuning, client side)
    from modelyard.cli.train import train

    main.add_command(train)


_register_optional()
_register_train()
