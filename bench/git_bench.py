"""`git clone` from ModelYard vs the same repository served by C git's `git http-backend` (the reference).

Usage: python bench/git_bench.py [--reps 5] [--commits 1000] [--files 5000] [--no-large] [--reference-only]
                                 [--json bench/results/git_bench.json]
Needs nginx and fcgiwrap (apt-get install nginx fcgiwrap) and git.

1. Builds a repository with `git fast-import` (deterministic from `--seed`): `--commits` commits adding
   `--files` small text files in total over `--dirs` directories (each commit adds files/commits new files and
   rewrites a line of `--mods` existing ones), plus the Hub's default `.gitattributes` in the first commit.
   The bare repository is repacked (`--ref-repack bitmap`: `git repack -adb`, what a maintained git server
   holds; `plain`: without the bitmap; `none`: fast-import's packs as they are).
2. The reference: nginx (one worker) -> fcgiwrap -> /usr/lib/git-core/git-http-backend with GIT_PROJECT_ROOT
   over that bare repository and GIT_HTTP_EXPORT_ALL.
3. ModelYard: a throwaway hub (`modelyard serve`), user `bench` with a write token, a public model repo created
   through the API, then `git push --force` of the built history to it (the API's initial commit is replaced).
4. Clones: `git clone` (protocol v2, the default; checkout included) and `git clone --depth 1`, each into a
   fresh directory on tmpfs (`--scratch`, default /dev/shm: the disk's writeback of earlier clones made the
   times drift by 2x), with HOME=<empty dir>, GIT_CONFIG_NOSYSTEM=1, GIT_TERMINAL_PROMPT=0, GIT_LFS_SKIP_SMUDGE=1.
   The first ModelYard clone (which may build or sync the repo's git mirror) is timed and reported apart; one
   warm-up clone per side, then `--reps` pairs, the order alternating (AB, BA, ...). Reported: median per side
   and the median of the per-pair ratios (ModelYard / reference).
5. Memory: VmRSS of the hub process and the sum over its `git` descendants, sampled every 25 ms (psutil), idle
   vs peak during the clones; the same for the reference's nginx + fcgiwrap + git processes. With `--large`
   (default on), a second, larger repository (`--large-commits` commits, `--large-files` files and
   `--large-big` plain text files of 8 MB) is pushed to the hub and cloned twice (timed against one reference
   clone): the hub's RSS must not grow with the size of the repository (packs are streamed from git).
The measured part runs under `flock /tmp/modelyard-bench.lock`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _harness import Hub, start_hub, start_nginx, stop

BENCH = Path(__file__).resolve().parent
DEFAULT_JSON = BENCH / "results" / "git_bench.json"
HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"
EXTS = ("txt", "py", "md", "cfg", "yaml")
AUTHOR = b"Bench <bench@example.com>"


# --- the repository ---------------------------------------------------------------------------------------
def gitattributes() -> bytes:
    """The `.gitattributes` the Hub writes into a new model repo (hub/repos.py, the initial commit)."""
    try:
        from modelyard.hub.paths import default_gitattributes

        return default_gitattributes("model")
    except ImportError:  # the bench outside the project's venv
        return b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


class TextGen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        letters = "abcdefghijklmnopqrstuvwxyz"
        self.words = ["".join(self.rng.choices(letters, k=self.rng.randint(2, 10))) for _ in range(2000)]

    def line(self) -> bytes:
        return (" ".join(self.rng.choices(self.words, k=self.rng.randint(4, 14))) + "\n").encode()

    def lines(self, lo: int, hi: int) -> list[bytes]:
        return [self.line() for _ in range(self.rng.randint(lo, hi))]


def build_repo(
    bare: Path,
    commits: int,
    files: int,
    dirs: int,
    mods: int,
    seed: int,
    big: int = 0,
    big_bytes: int = 8_000_000,
) -> dict[str, Any]:
    """A bare repository with the history described in the module docstring (via `git fast-import`)."""
    t0 = time.perf_counter()
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    gen = TextGen(seed)
    contents: dict[str, list[bytes]] = {}
    proc = subprocess.Popen(
        ["git", "-C", str(bare), "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE
    )
    assert proc.stdin is not None
    out = proc.stdin

    def blob(path: str, data: bytes) -> None:
        out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))

    made = 0
    big_at = {commits - 1 - k * max(1, commits // (big + 1)): k for k in range(big)}
    for i in range(commits):
        msg = b"commit %d\n" % i
        out.write(b"commit refs/heads/main\n")
        out.write(b"author %s %d +0000\n" % (AUTHOR, 1_700_000_000 + 60 * i))
        out.write(b"committer %s %d +0000\n" % (AUTHOR, 1_700_000_000 + 60 * i))
        out.write(b"data %d\n%s" % (len(msg), msg))
        if i == 0:
            blob(".gitattributes", gitattributes())
        n_new = files // commits + (1 if i < files % commits else 0)
        for _ in range(n_new):
            d = made % dirs
            path = f"pkg{d:02d}/sub{(made // dirs) % 3}/file_{made:05d}.{EXTS[made % len(EXTS)]}"
            contents[path] = gen.lines(15, 60)
            blob(path, b"".join(contents[path]))
            made += 1
        if i and contents:
            keys = list(contents)
            for path in gen.rng.sample(keys[: max(1, len(keys) - n_new)], min(mods, len(keys))):
                body = contents[path]
                body[gen.rng.randrange(len(body))] = gen.line()
                body.append(gen.line())
                blob(path, b"".join(body))
        if i in big_at:
            raw = random.Random(seed * 1000 + big_at[i]).randbytes(big_bytes * 3 // 4)
            b64 = base64.b64encode(raw)
            data = b"\n".join(b64[j : j + 99] for j in range(0, big_bytes, 100))
            blob(f"data/big_{big_at[i]}.txt", data)
        out.write(b"\n")
    out.write(b"done\n")
    out.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    head = git_out(bare, "rev-parse", "refs/heads/main")
    return {
        "commits": commits,
        "files": made + 1 + big,
        "big_files": big,
        "head": head,
        "build_s": round(time.perf_counter() - t0, 2),
    }


def git_out(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def repack(bare: Path, mode: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    if mode != "none":
        subprocess.run(
            ["git", "-C", str(bare), "repack", "-q", "-a", "-d", *(["-b"] if mode == "bitmap" else [])],
            check=True,
        )
    packs = list((bare / "objects" / "pack").glob("*.pack"))
    return {
        "repack": mode,
        "repack_s": round(time.perf_counter() - t0, 2),
        "packs": len(packs),
        "pack_mb": round(sum(p.stat().st_size for p in packs) / 1e6, 2),
    }


# --- the reference server -----------------------------------------------------------------------------------
def start_reference(
    work: Path, project_root: Path, probe_repo: str
) -> tuple[list[subprocess.Popen[bytes]], int]:
    """fcgiwrap (4 preforked workers) on a Unix socket, nginx forwarding every request to git-http-backend."""
    work.mkdir(parents=True, exist_ok=True)
    sock = work / "fcgiwrap.sock"
    # its own session: its preforked workers survive a SIGTERM to the parent, so the group is stopped (stop_group)
    with open(work / "fcgiwrap.log", "wb") as log:
        fcgi = subprocess.Popen(
            ["fcgiwrap", "-c", "4", "-s", f"unix:{sock}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 10
    while not sock.exists():
        if time.monotonic() > deadline or fcgi.poll() is not None:
            stop_group(fcgi)
            raise RuntimeError(f"fcgiwrap did not start: {(work / 'fcgiwrap.log').read_text()}")
        time.sleep(0.05)
    location = f"""client_max_body_size 0;
location / {{ include /etc/nginx/fastcgi_params; fastcgi_pass unix:{sock};
  fastcgi_param SCRIPT_FILENAME {HTTP_BACKEND}; fastcgi_param GIT_PROJECT_ROOT {project_root};
  fastcgi_param GIT_HTTP_EXPORT_ALL 1; fastcgi_param PATH_INFO $uri; fastcgi_param REMOTE_USER $remote_user; }}"""
    (work / "ngtmp").mkdir(exist_ok=True)
    try:
        nginx, port = start_nginx(
            work, project_root, f"/{probe_repo}/info/refs?service=git-upload-pack", server_extra=location
        )
    except BaseException:
        stop_group(fcgi)
        raise
    return [nginx, fcgi], port


def stop_group(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM to the process group `proc` leads (started with start_new_session), then SIGKILL if needed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# --- memory -------------------------------------------------------------------------------------------------
class TreeRss(threading.Thread):
    """Peak VmRSS of root processes (`main`: the roots themselves, `git`: the sum over their descendants named
    git*, `tree`: everything) sampled every `interval` s while `active` (a window: `reset()` starts a new one)."""

    def __init__(self, pids: list[int], interval: float = 0.025) -> None:
        import psutil

        super().__init__(daemon=True)
        self.roots = [psutil.Process(p) for p in pids]
        self.interval = interval
        self.halt = False
        self.lock = threading.Lock()
        self._others: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.peak = {"main": 0.0, "git": 0.0, "tree": 0.0}
            self.samples = 0
            self.others: dict[str, float] = {}  # other descendants (not git*): name -> peak RSS

    def sample(self) -> dict[str, float]:
        import psutil

        main = git = tree = 0.0
        others: dict[str, float] = {}
        for root in self.roots:
            try:
                r = root.memory_info().rss / 1e6
                main += r
                tree += r
                for ch in root.children(recursive=True):
                    try:
                        c = ch.memory_info().rss / 1e6
                        tree += c
                        name = ch.name()
                        if name.startswith("git"):
                            git += c
                        else:
                            others[name] = max(others.get(name, 0.0), c)
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
        self._others = others
        return {"main": main, "git": git, "tree": tree}

    def run(self) -> None:
        while not self.halt:
            now = self.sample()
            with self.lock:
                self.samples += 1
                for k, v in now.items():
                    self.peak[k] = max(self.peak[k], v)
                for k, v in self._others.items():
                    self.others[k] = max(self.others.get(k, 0.0), v)
            time.sleep(self.interval)

    def window(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = {k: round(v, 1) for k, v in self.peak.items()}
            if self.others:
                out["other_children"] = {k: round(v, 1) for k, v in self.others.items()}
            return out


# --- clones -------------------------------------------------------------------------------------------------
def git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_LFS_SKIP_SMUDGE": "1",
        }
    )
    return env


def clone(
    url: str, scratch: Path, env: dict[str, str], depth: bool, check: dict[str, Any] | None = None
) -> float:
    """Seconds for one `git clone` into a fresh directory (removed afterwards; `check`: verify HEAD and counts)."""
    dest = Path(tempfile.mkdtemp(prefix="c-", dir=scratch))
    cmd = ["git", "clone", "-q", *(["--depth", "1"] if depth else []), url, str(dest / "r")]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    try:
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()}")
        if check is not None:
            repo = dest / "r"
            head = git_out(repo, "rev-parse", "HEAD")
            n_commits = int(git_out(repo, "rev-list", "--count", "HEAD"))
            n_files = len(git_out(repo, "ls-files").splitlines())
            want_commits = 1 if depth else check["commits"]
            if head != check["head"] or n_commits != want_commits or n_files != check["files"]:
                raise RuntimeError(
                    f"clone of {url} has HEAD {head}, {n_commits} commits, {n_files} files; expected "
                    f"{check['head']}, {want_commits}, {check['files']}"
                )
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    return dt


@contextlib.contextmanager
def bench_lock() -> Iterator[None]:
    with open("/tmp/modelyard-bench.lock", "w") as f:
        t0 = time.monotonic()
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("waiting for /tmp/modelyard-bench.lock (another benchmark runs)", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        waited = time.monotonic() - t0
        if waited > 1:
            print(f"(waited {waited:.0f} s for /tmp/modelyard-bench.lock)", flush=True)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def paired(
    sides: dict[str, str],
    scratch: Path,
    env: dict[str, str],
    depth: bool,
    reps: int,
    check: dict[str, Any],
    watchers: dict[str, TreeRss],
) -> dict[str, Any]:
    """One warm-up per side, then `reps` pairs in alternating order; medians, paired ratios, RSS peaks."""
    names = list(sides)
    for name in names:
        clone(sides[name], scratch, env, depth, check)
    for w in watchers.values():
        w.reset()
    times: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(reps):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(clone(sides[name], scratch, env, depth))
    ratios = [m / r for m, r in zip(times[names[0]], times[names[-1]], strict=True)]
    return {
        "times_s": {n: [round(t, 3) for t in ts] for n, ts in times.items()},
        "median_s": {n: round(statistics.median(ts), 3) for n, ts in times.items()},
        "paired_ratios": [round(r, 3) for r in ratios],
        "median_ratio": round(statistics.median(ratios), 3),
        "rss_peak_mb": {n: w.window() for n, w in watchers.items()},
    }


# --- ModelYard ----------------------------------------------------------------------------------------------
def push(bare: Path, hub: Hub, repo: str, env: dict[str, str]) -> float:
    from huggingface_hub import HfApi

    HfApi(endpoint=hub.url, token=hub.token).create_repo(repo, exist_ok=True)
    url = f"http://bench:{hub.token}@127.0.0.1:{hub.port}/{repo}"
    t0 = time.perf_counter()
    res = subprocess.run(
        ["git", "-C", str(bare), "push", "-q", "--force", url, "refs/heads/main:refs/heads/main"],
        env=env,
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(f"git push to {repo} failed: {res.stderr.replace(hub.token, '<token>').strip()}")
    return time.perf_counter() - t0


def git_server_ready() -> bool:
    root = BENCH.parent / "src" / "modelyard"
    return (root / "server" / "git_http.py").exists() and (root / "git" / "backend.py").exists()


def fmt_row(label: str, row: dict[str, Any]) -> str:
    m = row["median_s"]
    rss = row["rss_peak_mb"]
    hub = rss.get("modelyard", {})
    ref = rss.get("reference", {})
    cells = [label, f"{m.get('modelyard', float('nan')):.2f}", f"{m.get('reference', float('nan')):.2f}"]
    cells.append(f"{row['median_ratio']:.2f}x" if "modelyard" in m else "—")
    cells.append(f"{hub.get('main', 0):.0f} / {hub.get('git', 0):.0f}" if hub else "—")
    cells.append(f"{ref.get('tree', 0):.0f} ({ref.get('git', 0):.0f} git)" if ref else "—")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--dirs", type=int, default=50)
    ap.add_argument("--mods", type=int, default=2)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--ref-repack", choices=("bitmap", "plain", "none"), default="bitmap")
    ap.add_argument("--large", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--large-commits", type=int, default=200)
    ap.add_argument("--large-files", type=int, default=20000)
    ap.add_argument("--large-big", type=int, default=6, help="plain text files of 8 MB in the large repo")
    ap.add_argument("--reference-only", action="store_true", help="no hub (before the git server exists)")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument(
        "--scratch",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="where clones are written (default: tmpfs, so the disk's writeback does not add noise)",
    )
    args = ap.parse_args()
    for tool in ("git", "nginx", "fcgiwrap"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            sys.exit(f"{tool} not found: apt-get install {tool} (the reference server is nginx + fcgiwrap)")
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    if not Path(HTTP_BACKEND).exists():
        sys.exit(f"{HTTP_BACKEND} not found (C git's http-backend)")
    with_hub = not args.reference_only
    if with_hub and not git_server_ready():
        sys.exit(
            "ModelYard has no git server yet (src/modelyard/server/git_http.py): run with --reference-only"
        )
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    signal.signal(
        signal.SIGTERM, lambda *_: sys.exit("terminated")
    )  # clean up the servers (finally) on SIGTERM

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="mygit-"))
    scratch = Path(tempfile.mkdtemp(prefix="mygit-clones-", dir=args.scratch))
    home = work / "home"
    home.mkdir()
    env = git_env(home)
    procs: list[subprocess.Popen[Any]] = []
    fcgi_proc: subprocess.Popen[Any] | None = None
    watchers: dict[str, TreeRss] = {}
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu_count": os.cpu_count(),
        "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
        "reps": args.reps,
    }
    try:
        project = work / "project"
        bare = project / "bench" / "small.git"
        small = build_repo(bare, args.commits, args.files, args.dirs, args.mods, args.seed)
        small.update(repack(bare, args.ref_repack))
        report["small_repo"] = small
        print(f"built {small}", flush=True)
        large: dict[str, Any] | None = None
        large_bare = project / "bench" / "large.git"
        if args.large and with_hub:
            large = build_repo(
                large_bare,
                args.large_commits,
                args.large_files,
                args.dirs,
                args.mods,
                args.seed + 1,
                args.large_big,
            )
            large.update(repack(large_bare, args.ref_repack))
            report["large_repo"] = large
            print(f"built {large}", flush=True)

        ref_procs, ref_port = start_reference(work / "nginx", project, "bench/small.git")
        procs += ref_procs
        fcgi_proc = ref_procs[1]
        sides = {"reference": f"http://127.0.0.1:{ref_port}/bench/small.git"}
        watchers["reference"] = TreeRss([p.pid for p in ref_procs])

        hub: Hub | None = None
        if with_hub:
            hub = start_hub(
                work / "data",
                {
                    "MODELYARD_RATE_LIMIT_PER_MINUTE": "1000000000",
                    "MODELYARD_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "1000000000",
                },
            )
            procs.append(hub.proc)
            sides = {"modelyard": f"{hub.url}/bench/small", **sides}
            watchers["modelyard"] = TreeRss([hub.proc.pid])

        with bench_lock():
            report["load_average_1m_start"] = round(os.getloadavg()[0], 2)
            for w in watchers.values():
                w.start()
            time.sleep(1)
            report["rss_idle_mb"] = {n: w.window() for n, w in watchers.items()}
            if hub is not None:
                report["push_s"] = {"small": round(push(bare, hub, "bench/small", env), 2)}
                print(f"pushed bench/small in {report['push_s']['small']:.1f} s", flush=True)
                time.sleep(1)
                watchers["modelyard"].reset()
                time.sleep(0.5)
                report["rss_idle_mb"]["modelyard_after_push"] = watchers["modelyard"].window()
                watchers["modelyard"].reset()
                first = clone(sides["modelyard"], scratch, env, False, small)
                report["first_clone"] = {
                    "seconds": round(first, 3),
                    "rss_peak_mb": watchers["modelyard"].window(),
                }
                print(f"first ModelYard clone (mirror sync included): {first:.2f} s", flush=True)
            report["cases"] = {}
            for label, depth in (("git clone", False), ("git clone --depth 1", True)):
                row = paired(sides, scratch, env, depth, args.reps, small, watchers)
                report["cases"][label] = row
                print(f"{label}: {json.dumps(row)}", flush=True)
            if hub is not None and large is not None:
                report["push_s"]["large"] = round(push(large_bare, hub, "bench/large", env), 2)
                print(f"pushed bench/large in {report['push_s']['large']:.1f} s", flush=True)
                time.sleep(1)
                watchers["modelyard"].reset()
                time.sleep(0.5)
                idle = watchers["modelyard"].window()
                runs = []
                for k in range(2):
                    watchers["modelyard"].reset()
                    t = clone(f"{hub.url}/bench/large", scratch, env, False, large if k == 0 else None)
                    runs.append({"seconds": round(t, 3), "rss_peak_mb": watchers["modelyard"].window()})
                watchers["reference"].reset()
                ref_t = clone(f"http://127.0.0.1:{ref_port}/bench/large.git", scratch, env, False, large)
                report["large"] = {
                    "idle_after_push_mb": idle,
                    "modelyard_clones": runs,
                    "reference_clone": {
                        "seconds": round(ref_t, 3),
                        "rss_peak_mb": watchers["reference"].window(),
                    },
                }
                print(f"large: {json.dumps(report['large'])}", flush=True)
            report["load_average_1m_end"] = round(os.getloadavg()[0], 2)
        report["wall_s"] = round(time.monotonic() - started, 1)

        print()
        print(
            f"{report['date']}, {report['cpu_count']} CPUs, load {report['load_average_1m_start']}"
            f"→{report['load_average_1m_end']}, {args.reps} pairs, reference repack: {args.ref_repack}"
        )
        print(
            "| case | ModelYard s | reference s | ratio (median of pairs) | hub RSS peak MB (process / git) "
            "| reference RSS peak MB |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for label, row in report["cases"].items():
            print(fmt_row(label, row))
        print(f"idle RSS MB: {json.dumps(report['rss_idle_mb'])}")
        if "first_clone" in report:
            print(
                f"first ModelYard clone: {json.dumps(report['first_clone'])}; push: {json.dumps(report['push_s'])}"
            )
        if "large" in report:
            print(f"large repo {json.dumps(large)}:\n  {json.dumps(report['large'])}")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    finally:
        for w in watchers.values():
            w.halt = True
        for p in reversed(procs):
            if fcgi_proc is not None and p is fcgi_proc:
                stop_group(p)
            else:
                stop(p, 15)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
