"""``modelyard deploy user/model``: turn a hub model into a REST endpoint in one command.

By default it asks the hub to create the endpoint (``POST {hub}/endpoints/-/api/endpoints``) and waits until
the model is loaded. With ``--serve-local`` it instead runs a standalone endpoint server on this machine that
downloads the snapshot from the hub.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from modelyard.cli._client import default_hub, default_token


def _error_text(resp: Any) -> str:
    try:
        return str(resp.json().get("error") or resp.text)
    except ValueError:
        return str(resp.text)


@click.command("deploy")
@click.argument("repo_id")
@click.option("--hub", default=default_hub, show_default="$MODELYARD_HUB or http://127.0.0.1:8080")
@click.option("--token", default=default_token, help="Token that can read the repo ($MODELYARD_TOKEN).")
@click.option("--name", default=None, help="Endpoint name (default: derived from the repo name).")
@click.option("--task", default=None, help="Override the task inferred from the card / config.")
@click.option("--revision", default="main", show_default=True)
@click.option("--max-batch-size", type=int, default=32, show_default=True)
@click.option("--max-wait-ms", type=float, default=0.0, show_default=True, help="Extra wait to fill a batch.")
@click.option("--max-queue", type=int, default=128, show_default=True, help="Bounded queue (429 beyond).")
@click.option(
    "--dtype",
    type=click.Choice(["float32", "bfloat16", "int8"]),
    default="float32",
    show_default=True,
    help="Weight precision, checked against float32 when the model loads.",
)
@click.option(
    "--keep-alive",
    type=float,
    default=300.0,
    show_default=True,
    help="Idle seconds before unload; -1: never.",
)
@click.option("--wait/--no-wait", default=True, help="Wait until the model is loaded.")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait for loading.")
@click.option(
    "--allow-unsafe-pickle",
    is_flag=True,
    help="Load the model even if a pickle file in it was scanned unsafe (it can run code when loaded).",
)
@click.option("--serve-local", is_flag=True, help="Run the endpoint server here instead of on the hub.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve-local: interface.")
@click.option("--port", type=int, default=8000, show_default=True, help="With --serve-local: port (0 = any).")
def deploy(
    repo_id: str,
    hub: str,
    token: str | None,
    name: str | None,
    task: str | None,
    revision: str,
    max_batch_size: int,
    max_wait_ms: float,
    max_queue: int,
    dtype: str,
    keep_alive: float,
    wait: bool,
    timeout: float,
    allow_unsafe_pickle: bool,
    serve_local: bool,
    host: str,
    port: int,
) -> None:
    """Deploy REPO_ID (user/model) as an inference endpoint."""
    from modelyard.inference.config import default_name

    name = name or default_name(repo_id)
    hub = hub.rstrip("/")
    if serve_local:
        from modelyard.server.inference_app import main as serve_main

        argv = ["--hub", hub, "--repo", repo_id, "--name", name, "--revision", revision]
        argv += ["--host", host, "--port", str(port), "--max-batch-size", str(max_batch_size)]
        argv += [
            "--max-wait-ms",
            str(max_wait_ms),
            "--max-queue",
            str(max_queue),
            "--keep-alive",
            str(keep_alive),
        ]
        if task:
            argv += ["--task", task]
        if dtype != "float32":
            argv += ["--dtype", dtype]
        if allow_unsafe_pickle:
            argv += ["--allow-unsafe-pickle"]
        if token:
            argv += ["--hub-token", token]
        click.echo(f"Serving {repo_id} locally as endpoint {name!r} (Ctrl-C to stop)")
        sys.exit(serve_main(argv))

    import httpx

    api = f"{hub}/endpoints/-/api/endpoints"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = {
        "name": name,
        "repo_id": repo_id,
        "revision": revision,
        "task": task,
        "max_batch_size": max_batch_size,
        "max_wait_ms": max_wait_ms,
        "max_queue": max_queue,
        "dtype": dtype,
        "keep_alive_s": None if keep_alive < 0 else keep_alive,
    }
    if allow_unsafe_pickle:  # the deployer's explicit choice (the hub refuses flagged pickles otherwise)
        body["allow_unsafe_pickle"] = True
    try:
        resp = httpx.post(api, json=body, headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"Cannot reach the hub at {hub}: {exc}") from None
    if resp.status_code != 201:
        raise click.ClickException(f"Deploy failed ({resp.status_code}): {_error_text(resp)}")
    url = f"{hub}/endpoints/{name}"
    click.echo(f"Endpoint {name!r} created for {repo_id}: {url}")
    if wait:
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = resp.json()
        while state.get("state") not in ("ready", "failed"):
            if time.monotonic() > deadline:
                raise click.ClickException(f"Endpoint {name!r} still {state.get('state')} after {timeout:g}s")
            time.sleep(0.5)
            got = httpx.get(f"{api}/{name}", headers=headers, timeout=30)
            if got.status_code != 200:
                raise click.ClickException(f"Cannot read endpoint state: {_error_text(got)}")
            state = got.json()
        if state["state"] == "failed":
            raise click.ClickException(f"Endpoint {name!r} failed to load: {state.get('error')}")
        click.echo(f"Ready: task {state.get('task')}, loaded in {state.get('last_load_seconds') or 0:.1f}s")
    click.echo(f'Use it: InferenceClient(base_url="{url}") or OpenAI(base_url="{url}/v1")')
