"""The scale-out topology harness (issue 17): PostgreSQL + an S3 API server + N `modelyard serve` replicas +
nginx as the load balancer. Used by tests/scale/conftest.py (fixtures) and bench/scale_bench.py; no pytest
fixtures and no import of tests/conftest.py here, so the benchmark can import it as a plain module.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SECRET = "scale-topology-shared-secret-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_config(
    prefix: Path, listen_port: int, upstream_ports: Sequence[int], workers: int = 1, access_log: bool = False
) -> str:
    """The balancer's nginx.conf (the same proxy settings as deploy/nginx.conf, with loopback upstreams and every
    path under `prefix`): streaming bodies both ways, no size cap, retry on another replica only when the request
    could not be sent (connect error / timeout; nginx never resends a non-idempotent request or a streamed body)."""
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstream_ports)
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  log_format balancer '$status|$request_method|$uri|$upstream_addr|$upstream_status';
  access_log {f"{prefix}/access.log balancer" if access_log else "off"};
  client_body_temp_path {prefix}/client_body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  upstream modelyard_hub {{
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{listen_port};
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_next_upstream error timeout;
    proxy_next_upstream_tries 3;
    proxy_connect_timeout 2s;
    proxy_read_timeout 600s;
    proxy_send_timeout 600s;
    location / {{ proxy_pass http://modelyard_hub; }}
  }}
}}
"""


@dataclass
class Replica:
    """One `modelyard serve` process on a fixed loopback port (so a restart rejoins the balancer's upstream)."""

    index: int
    port: int
    data_dir: Path
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelyard", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica {self.index} exited: {self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica {self.index} did not come up: {self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def kill9(self) -> None:
        """SIGKILL: no shutdown handler runs, in-flight requests die mid-way."""
        assert self.proc is not None and self.proc.poll() is None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Topology:
    url: str  # the balancer: what clients use (and the replicas' public_url)
    settings: dict[str, Any]  # the shared Settings values (database_url, blob_url, s3_*, secret_key, ...)
    replicas: list[Replica]
    root: Path
    nginx: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def env_for(self, data_dir: Path) -> dict[str, str]:
        """A replica's environment: MODELYARD_<OPTION> for every shared setting, its own data_dir."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "HF_"))}
        values = {**self.settings, "data_dir": str(data_dir)}
        env.update({f"MODELYARD_{k.upper()}": _env_value(v) for k, v in values.items()})
        return env

    def nginx_access(self) -> list[list[str]]:
        """The balancer's access log (with access_log=True): status, method, uri, upstream(s), upstream status(es)."""
        p = self.root / "nginx" / "access.log"
        return [line.split("|") for line in p.read_text().splitlines()] if p.exists() else []

    def nginx_errors(self) -> str:
        p = self.root / "nginx" / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""


def _env_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _start_nginx(
    prefix: Path, port: int, upstream_ports: Sequence[int], workers: int, access_log: bool = False
) -> subprocess.Popen[bytes]:
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, port, upstream_ports, workers, access_log))
    test = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(prefix)], capture_output=True, text=True)
    if test.returncode != 0:
        raise RuntimeError(f"nginx -t failed: {test.stderr}")
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=open(prefix / "stderr.log", "wb"),  # noqa: SIM115 - lives as long as nginx
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nginx did not start: {(prefix / 'error.log').read_text(errors='replace')}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGQUIT if "nginx" in str(proc.args) else signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def backends_available() -> str | None:
    """Why the topology cannot run here (None: it can)."""
    if not Path(NGINX).exists():
        return "nginx is not installed"
    try:
        import _postgres
        import _s3
    except ImportError as e:  # pragma: no cover
        return f"test helpers missing: {e}"
    if not hasattr(_postgres, "start_cluster"):
        return "tests/_postgres.py has no start_cluster yet"
    if not hasattr(_s3, "start_s3_server"):
        return "tests/_s3.py has no start_s3_server yet"
    if _postgres.pg_bin() is None:
        return "PostgreSQL binaries are not installed"
    if not Path(_s3._moto_binary()).exists():
        return "moto_server is not installed (the dev group's moto[server])"
    return None


@contextmanager
def start_topology(
    root: Path,
    replicas: int = 3,
    nginx_workers: int = 1,
    s3: bool = True,
    access_log: bool = False,
    **overrides: Any,
) -> Iterator[Topology]:
    """PostgreSQL (a fresh database) + S3 server (a fresh bucket; `s3=False`: a shared file:// blob dir) + N
    replicas + nginx. Migrations run once, before any replica starts; users alice, bob and org acme exist."""
    import _postgres
    import _s3
    from modelyard.db import Database, migrate

    root.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        cluster = _postgres.start_cluster(root / "pg")
        if cluster is None:
            raise RuntimeError("PostgreSQL binaries are not installed")
        stack.callback(cluster.stop)
        settings: dict[str, Any] = {
            "database_url": cluster.create_database(f"scale_{uuid.uuid4().hex[:8]}"),
            "secret_key": SECRET,  # every replica signs and verifies the same tokens and URLs
            "spaces_enabled": False,
            "jobs_enabled": False,
            "disk_reserve_mb": 64,
            "log_level": "warning",
        }
        if s3:
            server = _s3.start_s3_server(root / "s3")
            stack.callback(server.stop)
            settings.update(server.settings())  # blob_url s3://<fresh bucket>/blobs, s3_* (path addressing)
        else:
            shared = root / "shared-blobs"
            shared.mkdir()
            settings["blob_url"] = f"file://{shared}"
        settings.update(overrides)
        port = free_port()
        settings["public_url"] = f"http://127.0.0.1:{port}"
        topo = Topology(url=settings["public_url"], settings=settings, replicas=[], root=root)
        if s3:
            topo.extra["s3"] = server

        db = Database(settings["database_url"])
        migrate.upgrade(db)  # once, as the deploy's migration job does; replicas start without --migrate
        db.dispose()

        for i in range(replicas):
            data_dir = root / f"replica-{i}"
            data_dir.mkdir()
            rep = Replica(i, free_port(), data_dir, topo.env_for(data_dir), root / f"replica-{i}.log")
            topo.replicas.append(rep)
            stack.callback(rep.stop)
        for rep in topo.replicas:
            rep.start()
        topo.nginx = _start_nginx(
            root / "nginx", port, [r.port for r in topo.replicas], nginx_workers, access_log
        )
        stack.callback(_stop, topo.nginx)
        yield topo


def build_services(topo: Topology, data_dir: Path) -> Any:
    """Services in this process on the shared database and object store (not serving: setup and checks)."""
    from modelyard.config import Settings
    from modelyard.server.services import Services

    return Services.build(Settings(data_dir=str(data_dir), **topo.settings))


def create_accounts(services: Any) -> dict[str, str]:
    """Users alice and bob, org acme (alice a member), as tests/conftest.py does; their tokens."""
    acc = services.accounts
    if acc.find("alice") is None:
        acc.create("alice", "Alice A.")
        acc.create("bob", "Bob B.")
        acc.create("acme", "Acme Inc.", kind="org")
        acc.add_member("acme", "alice")
    suffix = uuid.uuid4().hex[:6]
    return {
        "alice": acc.create_token("alice", f"scale-write-{suffix}", "write"),
        "alice_read": acc.create_token("alice", f"scale-read-{suffix}", "read"),
        "bob": acc.create_token("bob", f"scale-bob-{suffix}", "write"),
    }
