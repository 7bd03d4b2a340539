"""Server settings: one declared table; precedence CLI flag > env (MODELYARD_<NAME>) > config file > default."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from modelyard.errors import ConfigError


class Secret(str):
    """A string whose repr is masked."""

    def __repr__(self) -> str:
        return "Secret('**********')"


@dataclass(frozen=True)
class Option:
    name: str
    type: Callable[[str], Any]
    default: Any
    help: str


def _bool(v: str) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in {"1", "true", "yes", "on"}:
        return True
    if s in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"Invalid boolean {v!r}")


OPTIONS: tuple[Option, ...] = (
    Option("data_dir", str, "./data", "Directory for the SQLite database, blobs and the server secret."),
    Option(
        "database_url",
        str,
        "",
        "SQLAlchemy URL; default sqlite:///<data_dir>/modelyard.db. "
        "PostgreSQL: postgresql+psycopg://user:pw@host/db.",
    ),
    Option("blob_url", str, "", "Blob store URL; default file://<data_dir>/blobs."),
    Option("host", str, "127.0.0.1", "Interface to bind."),
    Option("port", int, 8080, "Port to bind (0 = pick a free one)."),
    Option("public_url", str, "", "Base URL clients use; default: derived from the request Host header."),
    Option(
        "content_url",
        str,
        "",
        "Separate origin serving file bytes (e.g. https://content.example.org, same server); "
        "empty: served by the hub itself.",
    ),
    Option("session_idle_timeout", int, 14 * 86400, "Web login sessions end after this many idle seconds."),
    Option("session_max_age", int, 30 * 86400, "Web login sessions end this many seconds after login."),
    Option(
        "secret_key", Secret, "", "Key signing upload URLs; default: generated once into <data_dir>/secret."
    ),
    Option("multipart_threshold", int, 2 * 1024**3, "LFS objects at least this big are uploaded in parts."),
    Option("multipart_chunk_size", int, 512 * 1024**2, "Part size for multipart LFS uploads."),
    Option("max_upload_size", int, 500 * 1024**3, "Largest accepted file, in bytes."),
    Option(
        "disk_reserve_mb",
        int,
        1024,
        "Free space (MiB) kept under the blob store: uploads that would eat into it are refused with 507.",
    ),
    Option(
        "download_chunk_size",
        int,
        64 * 1024,
        "Bytes per write when a download cannot use sendfile(2): what each slow client may hold in memory.",
    ),
    Option("tree_page_size", int, 1000, "Entries per page of /tree listings."),
    Option("max_json_body", int, 8 * 1024**2, "Largest JSON request body, in bytes (413 past it)."),
    Option(
        "max_json_depth", int, 64, "Deepest nesting of arrays/objects in a JSON body or NDJSON line (400)."
    ),
    Option(
        "max_ndjson_line",
        int,
        32 * 1024**2,
        "Longest line of an NDJSON commit payload, in bytes (413); inline files are base64 in one line.",
    ),
    Option("max_commit_operations", int, 100_000, "Most operations (file adds/deletes) in one commit (413)."),
    Option("max_commit_summary", int, 4096, "Longest commit summary (title), in bytes (413)."),
    Option("max_commit_description", int, 256 * 1024, "Longest commit description, in bytes (413)."),
    Option(
        "max_header_size",
        int,
        64 * 1024,
        "Largest request head (request line and headers), in bytes; past it 431.",
    ),
    Option(
        "rate_limit_per_minute",
        int,
        6000,
        "Requests a minute per access token (burst: as many); past it 429 with Retry-After. 0 = no limit.",
    ),
    Option(
        "rate_limit_anonymous_per_minute",
        int,
        3000,
        "Requests a minute per client IP without a token (the socket peer: behind a proxy all clients "
        "share its IP); also caps failed authentications per IP. 0 = no limit.",
    ),
    Option(
        "inference_memory_budget_mb", int, 4096, "Memory for loaded endpoint models; LRU idle ones unload."
    ),
    Option("inference_max_loaded", int, 8, "Most endpoint models loaded at once."),
    Option(
        "inference_wait_timeout",
        float,
        120.0,
        "Seconds a request to an endpoint whose model is loading waits for it (then 503 + estimated_time); "
        "callers that send X-Wait-For-Model: false get the 503 at once.",
    ),
    Option(
        "spaces_enabled",
        _bool,
        True,
        "Run Spaces (Gradio, Streamlit, static apps) from space repos; off: space repos only store files.",
    ),
    Option(
        "spaces_url",
        str,
        "",
        "Origin serving the running Spaces, never the hub's own: empty = a second listener on spaces_port "
        "(spaces at /spaces/{ns}/{name}/); a wildcard such as https://*.spaces.example.org puts each Space at "
        "the root of its own host ({ns}-{name}), like the Hub's *.hf.space.",
    ),
    Option("spaces_port", int, 8081, "Port of the Spaces listener when spaces_url is empty (0 = any free)."),
    Option(
        "spaces_max_running", int, 4, "Most Spaces running at once; past it the least recently used sleeps."
    ),
    Option(
        "spaces_sleep_time",
        int,
        3600,
        "Seconds without a request after which a Space sleeps (woken by the next request); per Space: "
        "set_space_sleep_time. -1 = never.",
    ),
    Option("spaces_memory_mb", int, 2048, "Memory limit of one Space (or Job) process tree, in MiB."),
    Option("spaces_cpu_cores", float, 2.0, "CPU cores one Space may use (cgroup quota where available)."),
    Option(
        "spaces_sandbox",
        str,
        "auto",
        "Isolation of Space processes: auto (bubblewrap where installed, else refuse to run Spaces unless "
        "spaces_sandbox=none), bwrap, or none (own process group, limits and a cleared environment only; "
        "see docs/spaces.md for what then holds).",
    ),
    Option(
        "spaces_build_timeout", int, 900, "Seconds a Space's environment build may take (then BUILD_ERROR)."
    ),
    Option(
        "spaces_start_timeout",
        int,
        300,
        "Seconds from process start until a Space must answer HTTP (then RUNTIME_ERROR).",
    ),
    Option(
        "spaces_python",
        str,
        "",
        "Python interpreter for Space environments when the card's python_version is not found; default: "
        "a system python3 under /usr/bin, else the hub's own interpreter.",
    ),
    Option(
        "jobs_enabled",
        _bool,
        True,
        "Run Jobs (the Hub's Jobs API, `hf jobs`) and training recipes as sandboxed processes; off: the Jobs "
        "API answers 503.",
    ),
    Option("jobs_max_running", int, 2, "Most jobs running at once; the others wait (stage SCHEDULING)."),
    Option(
        "jobs_timeout",
        int,
        86400,
        "Default and largest timeout of a job, in seconds (a spec's timeoutSeconds may ask for less).",
    ),
    Option("jobs_memory_mb", int, 8192, "Memory limit of one job's process tree, in MiB."),
    Option("jobs_cpu_cores", float, 0.0, "CPU cores one job may use (cgroup quota); 0 = all of them."),
    Option(
        "jobs_sandbox",
        str,
        "",
        "Isolation of job processes: empty = as spaces_sandbox (auto, bwrap or none; docs/training.md).",
    ),
    Option("seed", _bool, False, "Seed a demo user, token and repos on start (for newcomers)."),
    Option(
        "upstream_url",
        str,
        "https://huggingface.co",
        "Web pages: links to models and datasets that are not on this hub (card metadata, card links) point "
        "there (marked external); empty: shown as plain text.",
    ),
    Option("log_level", str, "info", "Log level for the server."),
    Option(
        "webhook_max_attempts",
        int,
        5,
        "Webhook deliveries: HTTP attempts before a delivery is marked failed.",
    ),
    Option(
        "webhook_retry_base",
        float,
        10.0,
        "Webhook deliveries: seconds before the first retry; doubles after each failed attempt (at most 1 hour).",
    ),
    Option("webhook_timeout", float, 10.0, "Webhook deliveries: seconds to wait for the receiver's answer."),
    Option("webhook_poll_interval", float, 1.0, "Webhook deliveries: seconds between checks of the queue."),
    Option(
        "webhook_allow_private",
        _bool,
        False,
        "Webhook URLs may point to loopback, private and link-local addresses (off: refused on create and on "
        "send, against SSRF; turn on for receivers on the hub's own network).",
    ),
    # --- scale-out (issue 17; docs/scaling.md) ---
    Option(
        "s3_endpoint_url",
        str,
        "",
        "S3 API endpoint for blob_url s3://bucket/prefix (MinIO, Ceph RGW, R2...); empty: AWS, or AWS_ENDPOINT_URL.",
    ),
    Option(
        "s3_region", str, "", "S3 region; empty: boto3's default (AWS_REGION, ~/.aws/config), else us-east-1."
    ),
    Option(
        "s3_access_key_id", str, "", "S3 access key; empty: boto3's credential chain (env, files, roles)."
    ),
    Option("s3_secret_access_key", Secret, "", "S3 secret key; empty: boto3's credential chain."),
    Option(
        "s3_addressing_style",
        str,
        "auto",
        "S3 bucket addressing: auto, path (MinIO, Ceph, moto) or virtual.",
    ),
    Option(
        "blob_redirect",
        _bool,
        False,
        "Downloads of stored files answer 302 to a presigned URL of the object store (s3:// only); "
        "clients follow it as on the Hub. Off: the hub streams the bytes.",
    ),
    Option("blob_redirect_ttl", int, 3600, "Lifetime of presigned download URLs, in seconds."),
    Option(
        "s3_public_endpoint_url",
        str,
        "",
        "S3 endpoint written into presigned download URLs, when clients reach the store at another address than "
        "the hub (s3_endpoint_url); empty: s3_endpoint_url.",
    ),
    Option(
        "inference_backend",
        str,
        "local",
        "Where endpoint models run: local (worker processes of this server) or ray (Ray Serve deployments).",
    ),
    Option(
        "jobs_backend", str, "local", "Where jobs and fine-tuning run: local (sandboxed processes) or ray."
    ),
    Option(
        "ray_address",
        str,
        "",
        "Ray cluster for the ray backends (e.g. 127.0.0.1:6379); empty: RAY_ADDRESS or a local cluster.",
    ),
    Option(
        "ray_dashboard_url",
        str,
        "",
        "Ray job submission address (the dashboard, e.g. http://127.0.0.1:8265) for jobs_backend = ray.",
    ),
    Option(
        "task_poll_interval",
        float,
        1.0,
        "Background task queue: seconds between checks for due tasks (each task runs once across replicas).",
    ),
    Option(
        "gc_interval_hours",
        float,
        24.0,
        "Blob garbage collection runs as a background task this often (once across replicas; unreferenced blobs "
        "older than a day are removed, as `modelyard gc`); 0: only by hand.",
    ),
)

_BY_NAME = {o.name: o for o in OPTIONS}


@dataclass(frozen=True)
class Settings:
    data_dir: str = "./data"
    database_url: str = ""
    blob_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    content_url: str = ""
    session_idle_timeout: int = 14 * 86400
    session_max_age: int = 30 * 86400
    secret_key: Secret = field(default_factory=lambda: Secret(""))
    multipart_threshold: int = 2 * 1024**3
    multipart_chunk_size: int = 512 * 1024**2
    max_upload_size: int = 500 * 1024**3
    disk_reserve_mb: int = 1024
    download_chunk_size: int = 64 * 1024
    tree_page_size: int = 1000
    max_json_body: int = 8 * 1024**2
    max_json_depth: int = 64
    max_ndjson_line: int = 32 * 1024**2
    max_commit_operations: int = 100_000
    max_commit_summary: int = 4096
    max_commit_description: int = 256 * 1024
    max_header_size: int = 64 * 1024
    rate_limit_per_minute: int = 6000
    rate_limit_anonymous_per_minute: int = 3000
    inference_memory_budget_mb: int = 4096
    inference_max_loaded: int = 8
    inference_wait_timeout: float = 120.0
    spaces_enabled: bool = True
    spaces_url: str = ""
    spaces_port: int = 8081
    spaces_max_running: int = 4
    spaces_sleep_time: int = 3600
    spaces_memory_mb: int = 2048
    spaces_cpu_cores: float = 2.0
    spaces_sandbox: str = "auto"
    spaces_build_timeout: int = 900
    spaces_start_timeout: int = 300
    spaces_python: str = ""
    jobs_enabled: bool = True
    jobs_max_running: int = 2
    jobs_timeout: int = 86400
    jobs_memory_mb: int = 8192
    jobs_cpu_cores: float = 0.0
    jobs_sandbox: str = ""
    seed: bool = False
    upstream_url: str = "https://huggingface.co"
    log_level: str = "info"
    webhook_max_attempts: int = 5
    webhook_retry_base: float = 10.0
    webhook_timeout: float = 10.0
    webhook_poll_interval: float = 1.0
    webhook_allow_private: bool = False
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: Secret = field(default_factory=lambda: Secret(""))
    s3_addressing_style: str = "auto"
    blob_redirect: bool = False
    blob_redirect_ttl: int = 3600
    s3_public_endpoint_url: str = ""
    inference_backend: str = "local"
    jobs_backend: str = "local"
    ray_address: str = ""
    ray_dashboard_url: str = ""
    task_poll_interval: float = 1.0
    gc_interval_hours: float = 24.0

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'modelyard.db'}"

    @property
    def resolved_blob_url(self) -> str:
        if self.blob_url:
            return self.blob_url
        return f"file://{Path(self.data_dir).resolve() / 'blobs'}"

    def resolved_secret(self) -> str:
        """The configured secret, or one generated once and kept in <data_dir>/secret (mode 0600)."""
        if self.secret_key:
            return str(self.secret_key)
        path = Path(self.data_dir) / "secret"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            os.replace(tmp, path)
        return path.read_text().strip()

    def derived_key(self, purpose: bytes) -> bytes:
        """HMAC-SHA256 key for one purpose, derived from the server secret (cached: resolved_secret may read
        <data_dir>/secret), so keys of different features never sign each other's messages."""
        ident = (self.data_dir, str(self.secret_key), purpose)
        key = _DERIVED_KEYS.get(ident)
        if key is None:
            key = hmac.new(self.resolved_secret().encode(), purpose, hashlib.sha256).digest()
            _DERIVED_KEYS[ident] = key
        return key


_DERIVED_KEYS: dict[tuple[str, str, bytes], bytes] = {}


def env_name(option: str) -> str:
    return "MODELYARD_" + option.upper()


def load(
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    file: str | os.PathLike[str] | None = None,
) -> Settings:
    """Build Settings from a TOML file, the environment and CLI values (highest precedence last)."""
    values: dict[str, Any] = {}
    if file is not None:
        with open(file, "rb") as f:
            data = tomllib.load(f)
        for key, value in data.items():
            if key not in _BY_NAME:
                warnings.warn(f"Unknown setting {key!r} in {file}", stacklevel=2)
                continue
            values[key] = value
    for opt in OPTIONS:
        if env is not None and env_name(opt.name) in env:
            values[opt.name] = env[env_name(opt.name)]
    for key, value in (cli or {}).items():
        if value is not None:
            if key not in _BY_NAME:
                raise ConfigError(f"Unknown setting {key!r}")
            values[key] = value
    converted: dict[str, Any] = {}
    for key, value in values.items():
        opt = _BY_NAME[key]
        try:
            converted[key] = opt.type(value) if not isinstance(value, bool) or opt.type is not int else value
        except (TypeError, ValueError) as e:
            raise ConfigError(f"Invalid value for {key}: {value!r} ({e})") from e
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in converted.items() if k in known})
