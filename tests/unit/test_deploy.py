"""deploy/ (issue 17): what CI can check of the compose file, the Kubernetes manifests, nginx.conf and the
Dockerfile without Docker or a cluster: they parse, name only real settings and CLI commands, agree with each other
on image, ports and probes, the health route they probe is served, nginx accepts the config, and the Dockerfile
copies files that exist."""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelyard import config
from modelyard.config import OPTIONS, env_name

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
REAL_ENV = {env_name(o.name) for o in OPTIONS}


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return compose


def _group(pattern: str, text: str) -> str:
    """Group 1 of the first match of `pattern` (multi-line) in `text`; fails the test if there is none."""
    m = re.search(pattern, text, re.M)
    assert m is not None, pattern
    return m.group(1)


def _k8s_docs() -> list[dict[str, Any]]:
    docs = []
    for f in sorted(K8S.rglob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d is not None]
    return docs


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _k8s_docs() if d["kind"] == kind}


def _pod_specs() -> list[dict[str, Any]]:
    """Every pod template of the manifests (Deployments, StatefulSets, Jobs, RayCluster groups)."""
    specs = []
    for d in _k8s_docs():
        spec = d.get("spec", {})
        if "template" in spec:
            specs.append(spec["template"]["spec"])
        if d["kind"] == "RayCluster":
            specs.append(spec["headGroupSpec"]["template"]["spec"])
            specs += [g["template"]["spec"] for g in spec["workerGroupSpecs"]]
    return specs


def _containers() -> list[dict[str, Any]]:
    return [c for s in _pod_specs() for c in s.get("initContainers", []) + s["containers"]]


def _interpolate(value: Any) -> str:
    """compose's ${VAR:-default} -> default (what a deploy without a .env gets)."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


def _hub_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        n: s
        for n, s in compose["services"].items()
        if s.get("command") == ["modelyard", "serve"] or n.startswith("hub")
    }


# --- parsing ------------------------------------------------------------------------------------------------------
def test_every_yaml_parses_and_k8s_objects_are_complete() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert {f.relative_to(DEPLOY).as_posix() for f in files} >= {
        "compose.yaml",
        "k8s/kustomization.yaml",
        "k8s/hub.yaml",
        "k8s/secret.yaml",
        "k8s/configmap.yaml",
        "k8s/migrate-job.yaml",
        "k8s/ingress.yaml",
        "k8s/ray/raycluster.yaml",
    }
    for f in files:
        list(yaml.safe_load_all(f.read_text()))
    kinds = set()
    for d in _k8s_docs():
        assert d.get("apiVersion") and d.get("kind") and d["metadata"].get("name"), d
        kinds.add(d["kind"])
    assert kinds >= {
        "Deployment",
        "Service",
        "Ingress",
        "Secret",
        "ConfigMap",
        "Job",
        "StatefulSet",
        "RayCluster",
    }
    # every manifest but the optional Ray one is in the kustomization, and everything it lists exists
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kust["resources"])
    assert all((K8S / r).is_file() for r in listed), listed
    present = {f.relative_to(K8S).as_posix() for f in K8S.rglob("*.yaml")} - {"kustomization.yaml"}
    assert present - listed == {"ray/raycluster.yaml"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_offline() -> None:
    r = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    built = [d for d in yaml.safe_load_all(r.stdout) if d]
    hub = next(d for d in built if d["kind"] == "Deployment" and d["metadata"]["name"] == "modelyard-hub")
    assert hub["spec"]["replicas"] == 3
    assert {d["metadata"].get("namespace") for d in built if d["kind"] != "Namespace"} == {"modelyard"}


# --- settings -----------------------------------------------------------------------------------------------------
def _named_env() -> dict[str, dict[str, str]]:
    """Every MODELYARD_* variable the deploy files set, by file: name -> value as written."""
    found: dict[str, dict[str, str]] = {}
    compose = _compose()
    env: dict[str, str] = {}
    for svc in compose["services"].values():
        env.update({k: _interpolate(v) for k, v in (svc.get("environment") or {}).items()})
    found["compose.yaml"] = env
    k8s: dict[str, str] = {}
    for d in _k8s_docs():
        k8s.update({k: str(v) for k, v in (d.get("data") or {}).items()})
        k8s.update({k: str(v) for k, v in (d.get("stringData") or {}).items()})
    for c in _containers():
        k8s.update({e["name"]: str(e.get("value", "")) for e in c.get("env", [])})
    found["k8s"] = k8s
    docker = (DEPLOY / "Dockerfile").read_text()
    found["Dockerfile"] = dict(re.findall(r"(MODELYARD_[A-Z0-9_]+)=(\S+)", docker))
    dotenv = (DEPLOY / ".env.example").read_text()
    found[".env.example"] = dict(re.findall(r"^#?\s*(MODELYARD_[A-Z0-9_]+)=(.*)$", dotenv, re.M))
    return {f: {k: v for k, v in e.items() if k.startswith("MODELYARD_")} for f, e in found.items()}


def test_every_modelyard_env_var_is_a_real_setting_with_a_valid_value() -> None:
    named = _named_env()
    assert len(named["compose.yaml"]) >= 10 and len(named["k8s"]) >= 10
    for where, env in named.items():
        unknown = set(env) - REAL_ENV
        assert not unknown, f"{where}: {sorted(unknown)} are not settings (config.OPTIONS)"
        settings = config.load(env=env)  # every value converts to its option's type
        if "MODELYARD_DATA_DIR" in env:
            assert settings.data_dir == "/data", where
    # and the names quoted in prose (README, comments) are real too
    for f in [DEPLOY / "README.md", DEPLOY / "Dockerfile", *DEPLOY.rglob("*.yaml"), DEPLOY / "nginx.conf"]:
        # (a name ending in "_" is a family, as in MODELYARD_S3_*)
        quoted = {n for n in re.findall(r"MODELYARD_[A-Z0-9_]+", f.read_text()) if not n.endswith("_")}
        assert quoted <= REAL_ENV, (f.name, sorted(quoted - REAL_ENV))


def test_every_replica_shares_database_store_and_secret() -> None:
    """What makes replicas stateless: the same database, object store and secret on each; compose and k8s agree."""
    compose = _compose()
    hubs = _hub_services(compose)
    assert set(hubs) == {"hub1", "hub2", "hub3"}
    envs = [{k: _interpolate(v) for k, v in s["environment"].items()} for s in hubs.values()]
    assert all(e == envs[0] for e in envs)
    env = envs[0]
    for key in ("DATABASE_URL", "BLOB_URL", "SECRET_KEY", "S3_ENDPOINT_URL", "PUBLIC_URL"):
        assert env.get(f"MODELYARD_{key}"), key
    assert env["MODELYARD_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["MODELYARD_BLOB_URL"].startswith("s3://")
    assert env["MODELYARD_SPACES_ENABLED"] == "false"
    k8s = _named_env()["k8s"]
    for key in ("DATABASE_URL", "BLOB_URL", "SECRET_KEY", "S3_ENDPOINT_URL", "S3_ACCESS_KEY_ID"):
        assert f"MODELYARD_{key}" in k8s, key
    secret = _by_kind("Secret")["modelyard"]["stringData"]
    assert {"MODELYARD_SECRET_KEY", "MODELYARD_DATABASE_URL", "MODELYARD_S3_SECRET_ACCESS_KEY"} <= set(secret)
    assert (
        "MODELYARD_SECRET_KEY" not in _by_kind("ConfigMap")["modelyard"]["data"]
    )  # secrets stay in the Secret
    # the bucket the one-shot jobs create is the one blob_url names
    bucket = env["MODELYARD_BLOB_URL"].split("/")[2]
    assert f"store/{bucket}" in " ".join(compose["services"]["minio-bucket"]["command"])
    assert k8s["MODELYARD_BLOB_URL"].split("/")[2] == bucket


# --- image, commands, ports, probes -----------------------------------------------------------------------------
def _cli_exists(argv: list[str]) -> bool:
    """`modelyard a b ...` names a real command of the CLI."""
    import click

    from modelyard.cli import main

    cmd: click.Command = main
    for word in argv[1:]:
        if word.startswith("-"):
            break
        if not isinstance(cmd, click.Group):
            break
        sub = cmd.commands.get(word)
        if sub is None:
            return False
        cmd = sub
    return cmd is not main


def _commands() -> list[list[str]]:
    cmds = []
    for svc in _compose()["services"].values():
        if isinstance(svc.get("command"), list):
            cmds.append(svc["command"])
    for c in _containers():
        if "command" in c:
            cmd = c["command"]
            if cmd[:2] == ["sh", "-c"]:
                for part in re.split(r";|&&|\|\|", cmd[2]):
                    words = shlex.split(part)
                    while words and words[0] in ("until", "while", "do", "if", "then", "!"):
                        words = words[1:]  # shell keywords before the command
                    cmds.append(words)
            else:
                cmds.append(cmd)
    docker = (DEPLOY / "Dockerfile").read_text()
    cmds.append(yaml.safe_load(_group(r"^CMD (.*)$", docker)))  # JSON form
    return [c for c in cmds if c and c[0] == "modelyard"]


def test_every_modelyard_command_is_real() -> None:
    cmds = _commands()
    assert ["modelyard", "serve"] in cmds and ["modelyard", "db", "upgrade"] in cmds
    assert any(c[:3] == ["modelyard", "db", "check"] for c in cmds)  # the init container waits for the schema
    for c in cmds:
        assert _cli_exists(c), c
    assert not _cli_exists(["modelyard", "no-such-command"])


def test_image_ports_and_probes_agree() -> None:
    compose = _compose()
    docker = (DEPLOY / "Dockerfile").read_text()
    port = int(_group(r"^EXPOSE (\d+)$", docker))
    assert f"MODELYARD_PORT={port}" in docker
    # compose: one image for hubs, the migration and Ray, built from deploy/Dockerfile
    for name in ("hub1", "hub2", "hub3", "migrate", "ray-head", "ray-worker"):
        svc = compose["services"][name]
        assert svc["image"] == "modelyard:latest", name
        assert svc["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}, name
        assert (DEPLOY / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
    for name, svc in _hub_services(compose).items():
        assert int(svc["environment"]["MODELYARD_PORT"]) == port
        assert svc["healthcheck"]["test"][-1] == f"http://127.0.0.1:{port}/health", name
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # nginx balances exactly the hub services, on their port
    conf = (DEPLOY / "nginx.conf").read_text()
    assert set(re.findall(r"server (\S+):(\d+)", conf)) == {(h, str(port)) for h in _hub_services(compose)}
    assert set(compose["services"]["nginx"]["depends_on"]) == set(_hub_services(compose))
    mount = compose["services"]["nginx"]["volumes"][0].split(":")[0]
    assert (DEPLOY / mount).resolve() == DEPLOY / "nginx.conf"
    for svc in compose["services"].values():
        for dep in svc.get("depends_on") or []:
            assert dep in compose["services"], dep
    # k8s: the same image everywhere ModelYard runs; ports and probes line up with the Service and Ingress
    images = {c["image"] for c in _containers() if c["name"] in ("hub", "wait-for-schema", "migrate")}
    images |= {c["image"] for c in _containers() if c["name"].startswith("ray-")}
    assert images == {"modelyard:latest"}
    hub = _by_kind("Deployment")["modelyard-hub"]
    assert hub["spec"]["replicas"] == 3
    c = next(c for c in hub["spec"]["template"]["spec"]["containers"] if c["name"] == "hub")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": port}
    assert int(_by_kind("ConfigMap")["modelyard"]["data"]["MODELYARD_PORT"]) == port
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    labels = hub["spec"]["template"]["metadata"]["labels"]
    assert hub["spec"]["selector"]["matchLabels"].items() <= labels.items()
    svc = _by_kind("Service")["modelyard-hub"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= set(ports)
    backend = _by_kind("Ingress")["modelyard-hub"]["spec"]["rules"][0]["http"]["paths"][0]["backend"][
        "service"
    ]
    assert backend["name"] == "modelyard-hub"
    assert backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}
    # every secretKeyRef / envFrom names an object and key that exist
    secrets, maps = _by_kind("Secret"), _by_kind("ConfigMap")
    for c in _containers():
        for ref in c.get("envFrom", []):
            if "secretRef" in ref:
                assert ref["secretRef"]["name"] in secrets
            if "configMapRef" in ref:
                assert ref["configMapRef"]["name"] in maps
        for e in c.get("env", []):
            key = (e.get("valueFrom") or {}).get("secretKeyRef")
            if key:
                assert key["key"] in secrets[key["name"]]["stringData"], key


def test_the_probed_health_route_is_served(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from modelyard.config import Settings
    from modelyard.server.app import create_app

    settings = Settings(data_dir=str(tmp_path), spaces_enabled=False, jobs_enabled=False, disk_reserve_mb=1)
    with TestClient(create_app(settings, auto_migrate=True)) as client:
        r = client.get("/health")
        assert r.status_code == 200 and r.json()["database"]["ok"] is True
        assert client.get("/healthz").status_code == 404  # the probes name the real route, not a guess


# --- nginx ----------------------------------------------------------------------------------------------------------
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed")
def test_nginx_conf_passes_nginx_t(tmp_path: Path) -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    local = re.sub(r"server hub\d:", "server 127.0.0.1:", conf)  # compose's service names do not resolve here
    local = local.replace("listen 80;", f"listen 127.0.0.1:{port};")
    assert local.count("127.0.0.1") == 4
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / d).mkdir()
    temp = "".join(
        f"  {d}_temp_path {tmp_path}/{d};\n" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    local = local.replace("http {\n", "http {\n" + temp, 1)
    (tmp_path / "nginx.conf").write_text(local)
    r = subprocess.run(
        [
            NGINX,
            "-t",
            "-c",
            str(tmp_path / "nginx.conf"),
            "-p",
            str(tmp_path),
            "-g",
            f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "syntax is ok" in r.stderr
    # a broken file fails the same check (the check can fail)
    (tmp_path / "bad.conf").write_text(local.replace("proxy_buffering off;", "proxy_buffering sideways;"))
    bad = subprocess.run(
        [
            NGINX,
            "-t",
            "-c",
            str(tmp_path / "bad.conf"),
            "-p",
            str(tmp_path),
            "-g",
            f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0


def test_nginx_conf_matches_the_test_topology() -> None:
    """deploy/nginx.conf and the balancer tests/scale runs with carry the same proxy settings."""
    conf = (DEPLOY / "nginx.conf").read_text()
    directives = [
        "client_max_body_size 0;",
        "proxy_request_buffering off;",
        "proxy_buffering off;",
        "proxy_http_version 1.1;",
        "proxy_next_upstream error timeout;",
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
    ]
    scale = (ROOT / "tests" / "scale" / "_topology.py").read_text()
    for d in directives:
        assert d in conf, d
        assert d in scale, d
    assert "non_idempotent" not in conf  # never resend a POST (a commit) to a second replica


# --- Dockerfile -------------------------------------------------------------------------------------------------------
def test_dockerfile_copies_real_files_and_installs_real_extras() -> None:
    docker = (DEPLOY / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (.+) (\S+)$", docker, re.M)
    assert copies
    sources = [src for line, _ in copies for src in line.split()]
    for src in sources:
        assert (ROOT / src).exists(), src  # the build context is the repository root
    extras = _group(r"^ARG EXTRAS=(\S+)$", docker).split(",")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) <= set(declared) and {"postgres", "s3"} <= set(extras)
    assert 'pip install --no-cache-dir ".[${EXTRAS}]"' in docker
    # pyproject's readme must be in the image for the build; the ignore file lets every copied source through
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"] in sources
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for src in sources:
        assert f"!{src.rstrip('/')}" in ignore or f"!{src.rstrip('/')}/" in ignore, src
    assert re.search(r"^HEALTHCHECK .*http://127\.0\.0\.1:(\d+)/health", docker, re.M | re.S)
