"""Pure functions: path validation, .gitattributes matching, git object ids (vs real git), Range parsing, cards,
names, ref names and the NDJSON commit parser (on a real filesystem blob store)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from modelyard.errors import BadPayload, InvalidPath, InvalidRevisionName, InvalidYaml, RangeNotSatisfiable
from modelyard.hub.cards import derive_tags, parse_card, split_front_matter, validate
from modelyard.hub.commits import AddFile, AddLfs, CommitParser, Delete
from modelyard.hub.gitobjects import blob_sha1, commit_sha1, tree_shas
from modelyard.hub.paths import default_gitattributes, lfs_patterns, matches_lfs, validate_path
from modelyard.hub.revisions import validate_ref_name
from modelyard.server.api.resolve import parse_range
from modelyard.storage import open_store
from modelyard.types import valid_name

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


# --- paths -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "normalised"),
    [
        ("a.txt", "a.txt"),
        ("dir/sub/file.bin", "dir/sub/file.bin"),
        ("./a.txt", "a.txt"),
        (".gitattributes", ".gitattributes"),
        ("a..b.txt", "a..b.txt"),
        (".github/x.yml", ".github/x.yml"),
        ("dir with space/ü.txt", "dir with space/ü.txt"),
        ("..hidden", "..hidden"),
        ("x.git", "x.git"),
    ],
)
def test_validate_path_ok(path, normalised):
    assert validate_path(path) == normalised


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/abs",
        "../x",
        "a/../b",
        "a/..",
        "..",
        ".",
        "a/./b",
        "a//b",
        "a/",
        ".git",
        ".git/config",
        "x/.git/y",
        "nul\0",
        "tab\there",
        "new\nline",
        "x" * 1025,
        "ü" * 600,
    ],
)
def test_validate_path_rejects(path):
    with pytest.raises(InvalidPath):
        validate_path(path)


@pytest.mark.parametrize("path", ["a\\b", "..\\ddd", "d\\..\\..\\x"])
def test_validate_path_keeps_backslashes_literal(path):
    assert validate_path(path) == path  # as on the Hub: one file name, no separator, no traversal


@pytest.mark.parametrize("path", ["..\\evil", "a\\b.txt", "d/e\\f"])
def test_local_target_stays_inside(tmp_path, path):
    from modelyard.hub.paths import local_target

    target = local_target(str(tmp_path), path)
    assert target.startswith(str(tmp_path) + "/") and "/../" not in target


# --- .gitattributes -------------------------------------------------------------------------------------------------
def test_default_gitattributes_patterns():
    pats = lfs_patterns(default_gitattributes("model").decode())
    assert "*.safetensors" in pats and "saved_model/**/*" in pats
    for p in [
        "model.safetensors",
        "a/b/pytorch_model.bin",
        "x.tar.gz",
        "events.out.tfevents.123",
        "saved_model/v/x.pb",
        "saved_model/variables/data",
        "w.lfs.dat",
        "data.parquet",
        "m.onnx",
    ]:
        assert matches_lfs(p, pats), p
    for p in ["config.json", "README.md", "a/b/notes.txt", "binary", "saved_model", "x.safetensors.json"]:
        assert not matches_lfs(p, pats), p
    ds = lfs_patterns(default_gitattributes("dataset").decode())
    assert matches_lfs("images/cat.png", ds) and not matches_lfs("images/cat.png", pats)


@pytest.mark.parametrize(
    ("attrs", "path", "expected"),
    [
        ("*.bin filter=lfs diff=lfs merge=lfs -text", "deep/dir/x.bin", True),
        ("/top.bin filter=lfs", "top.bin", True),
        ("/top.bin filter=lfs", "sub/top.bin", False),
        ("data/*.csv filter=lfs", "data/a.csv", True),
        ("data/*.csv filter=lfs", "data/sub/a.csv", False),
        ("data/** filter=lfs", "data/sub/a.csv", True),
        ("**/logs/* filter=lfs", "a/b/logs/x", True),
        ("file?.txt filter=lfs", "file1.txt", True),
        ("file?.txt filter=lfs", "file10.txt", False),
        ("# *.txt filter=lfs\n", "a.txt", False),
        ("*.txt text", "a.txt", False),
        ("*.bin filter=lfs\n*.bin -filter", "a.bin", False),
        ("*.bin filter=lfs\n*.bin !filter", "a.bin", False),
        ("a+b(c).bin filter=lfs", "a+b(c).bin", True),
    ],
)
def test_gitattributes_matching(attrs, path, expected):
    assert matches_lfs(path, lfs_patterns(attrs)) is expected


# --- git object ids --------------------------------------------------------------------------------------------------
def git(*args: str, cwd, env=None, input: bytes | None = None) -> str:
    out = subprocess.run([GIT, *args], cwd=cwd, env=env, input=input, capture_output=True, check=True)
    return out.stdout.decode().strip()


@needs_git
@pytest.mark.parametrize("data", [b"", b"hello\n", os.urandom(3000), "ü\r\n".encode() * 7])
def test_blob_sha1_matches_git(tmp_path, data):
    f = tmp_path / "blob"
    f.write_bytes(data)
    assert blob_sha1(data) == git("hash-object", "--no-filters", str(f), cwd=tmp_path)


@needs_git
def test_tree_and_commit_sha1_match_git(tmp_path):
    files = {
        "README.md": b"# hi\n",
        "a.txt": b"a",
        "a-b.txt": b"dash sorts before slash",
        "a/x.txt": b"in dir a",
        "a/b/c/deep.bin": os.urandom(100),
        "z/ü.txt": b"unicode name",
        "z.txt": b"z",
    }
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    for path, data in files.items():
        p = repo / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    git("-c", "core.autocrlf=false", "add", "-A", cwd=repo)
    expected_root = git("write-tree", cwd=repo)
    ours = tree_shas((p, blob_sha1(d)) for p, d in files.items())
    assert ours[""] == expected_root
    for d in ("a", "a/b", "a/b/c", "z"):
        assert ours[d] == git("rev-parse", f"{expected_root}:{d}", cwd=repo), d

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ident = "alice <alice@users.noreply.modelyard>"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "alice",
        "GIT_AUTHOR_EMAIL": "alice@users.noreply.modelyard",
        "GIT_COMMITTER_NAME": "alice",
        "GIT_COMMITTER_EMAIL": "alice@users.noreply.modelyard",
        "GIT_AUTHOR_DATE": f"{int(when.timestamp())} +0000",
        "GIT_COMMITTER_DATE": f"{int(when.timestamp())} +0000",
    }
    first = git("commit-tree", expected_root, "-F", "-", cwd=repo, env=env, input=b"initial commit\n")
    assert commit_sha1(expected_root, None, "alice", when, "initial commit") == first
    second = git(
        "commit-tree",
        expected_root,
        "-p",
        first,
        "-F",
        "-",
        cwd=repo,
        env=env,
        input=b"Upload x\n\nwith a body\n",
    )
    assert commit_sha1(expected_root, first, "alice", when, "Upload x\n\nwith a body") == second
    assert ident in git("cat-file", "-p", second, cwd=repo)


# --- Range ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("", 10, None),
        ("bytes=0-0", 10, (0, 1)),
        ("bytes=2-8", 10, (2, 9)),
        ("bytes=2-", 10, (2, 10)),
        ("bytes=-3", 10, (7, 10)),
        ("bytes=-30", 10, (0, 10)),
        ("bytes=5-100", 10, (5, 10)),
        ("bytes=9-9", 10, (9, 10)),
        (" bytes=1-2 ", 10, (1, 2 + 1)),
        ("items=0-1", 10, None),
        ("bytes=0-1,3-4", 10, None),
        ("bytes=-", 10, None),
        ("bytes=a-b", 10, None),
    ],
)
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=10-", 10),
        ("bytes=10-20", 10),
        ("bytes=5-2", 10),
        ("bytes=-0", 10),
        ("bytes=0-", 0),
        ("bytes=-5", 0),
    ],
)
def test_parse_range_unsatisfiable(header, size):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


# --- names ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gpt2", "bert-base", "a", "A.b_c-1", "x" * 96, "v1.0"])
def test_valid_names(name):
    assert valid_name(name)


@pytest.mark.parametrize(
    "name", ["", "x" * 97, "a--b", "a..b", "x.git", "-a", ".a", "a-", "a.", "a b", "a/b", "ü"]
)
def test_invalid_names(name):
    assert not valid_name(name)


@pytest.mark.parametrize("name", ["dev", "feature/x", "v1.0", "release-2", "a_b"])
def test_ref_names_ok(name):
    assert validate_ref_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "a b", "a..b", "x.lock", "x/", "a//b", "refs/heads/x", "refs/pr/1", "-x", "x.", "~x"]
)
def test_ref_names_bad(name):
    with pytest.raises(InvalidRevisionName):
        validate_ref_name(name)


# --- cards ---------------------------------------------------------------------------------------------------------------------
def test_parse_card_and_tags():
    text = (
        "---\nlicense: mit\nlanguage: [en, fr]\ntags:\n- foo\n- foo\npipeline_tag: text-classification\n"
        "library_name: transformers\ndatasets: imdb\n---\n# Model\n\nbody ---\n"
    )
    card = parse_card(text)
    assert card == {
        "license": "mit",
        "language": ["en", "fr"],
        "tags": ["foo", "foo"],
        "pipeline_tag": "text-classification",
        "library_name": "transformers",
        "datasets": "imdb",
    }
    tags, pipeline, library = derive_tags(card)
    assert pipeline == "text-classification" and library == "transformers"
    assert tags == ["transformers", "text-classification", "foo", "dataset:imdb", "en", "fr", "license:mit"]
    raw, body = split_front_matter(text)
    assert raw is not None and body == "# Model\n\nbody ---\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# no front matter\n", None),
        ("\ufeff---\na: 1\n---\n", {"a": 1}),
        ("---\r\na: 1\r\n---\r\nx", {"a": 1}),
        ("---\ndate: 2024-01-02\n---\n", {"date": "2024-01-02"}),
        ("---\n---\n# empty front matter\n", {}),
    ],
)
def test_parse_card_edge_cases(text, expected):
    assert parse_card(text) == expected


@pytest.mark.parametrize("text", ["---\n: : :\n---\n", "---\n- a\n- b\n---\n", "---\na: [1\n---\n"])
def test_parse_card_invalid(text):
    with pytest.raises(InvalidYaml):
        parse_card(text)


def test_validate_card():
    assert validate({"license": "mit", "tags": ["a"]}) == []
    assert validate({"model-index": "foo"}) == ['"model-index" must be an array']
    assert validate({"tags": 5})


# --- NDJSON commit parser on a real blob store -------------------------------------------------------------------------
def _line(obj) -> bytes:
    return json.dumps(obj).encode()


def test_commit_parser(tmp_path):
    store = open_store(f"file://{tmp_path}/blobs")
    p = CommitParser(store)
    p.feed_line(
        _line(
            {
                "key": "header",
                "value": {"summary": "Add\nmore lines", "description": "d", "parentCommit": "a" * 40},
            }
        )
    )
    p.feed_line(b"   ")
    p.feed_line(
        _line(
            {
                "key": "file",
                "value": {
                    "path": "README.md",
                    "content": base64.b64encode(b"---\na: 1\n---\n").decode(),
                    "encoding": "base64",
                },
            }
        )
    )
    p.feed_line(_line({"key": "file", "value": {"path": "u.txt", "content": "plain", "encoding": "utf-8"}}))
    p.feed_line(
        _line({"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "A" * 64, "size": 3}})
    )
    p.feed_line(_line({"key": "lfsFile", "value": {"path": "copy.bin", "algo": "sha256", "oid": "b" * 64}}))
    p.feed_line(_line({"key": "deletedFile", "value": {"path": "old.txt"}}))
    p.feed_line(_line({"key": "deletedFolder", "value": {"path": "folder/"}}))
    req = p.finish()
    assert req.summary == "Add" and req.description == "d" and req.parent_commit == "a" * 40
    assert req.readme_text == "---\na: 1\n---\n"
    readme, plain, lfs, copy, delete, delete_dir = req.operations
    assert isinstance(readme, AddFile) and readme.oid == blob_sha1(b"---\na: 1\n---\n")
    assert store.exists(readme.sha256) and readme.sha256 == hashlib.sha256(b"---\na: 1\n---\n").hexdigest()
    assert isinstance(plain, AddFile) and plain.size == 5
    assert lfs == AddLfs("w.bin", "a" * 64, 3)
    assert copy == AddLfs("copy.bin", "b" * 64, None)
    assert delete == Delete("old.txt", folder=False)
    assert delete_dir == Delete("folder", folder=True)


@pytest.mark.parametrize(
    "line",
    [
        b"{not json",
        b"[]",
        b'{"key": "header"}',
        b'{"key": "nope", "value": {}}',
        b'{"value": {}}',
        b"\xff\xfe",
        _line({"key": "file", "value": {"path": "../x", "content": ""}}),
        _line({"key": "file", "value": {"path": "x", "content": "***"}}),
        _line({"key": "file", "value": {"path": "x", "content": "", "encoding": "rot13"}}),
        _line({"key": "lfsFile", "value": {"path": "x", "algo": "md5", "oid": "a" * 64}}),
        _line({"key": "header", "value": {"summary": "  "}}),
    ],
)
def test_commit_parser_rejects(tmp_path, line):
    p = CommitParser(open_store(f"file://{tmp_path}/blobs"))
    with pytest.raises((BadPayload, InvalidPath)):
        p.feed_line(line)


def test_commit_parser_needs_header(tmp_path):
    p = CommitParser(open_store(f"file://{tmp_path}/blobs"))
    p.feed_line(_line({"key": "deletedFile", "value": {"path": "x"}}))
    with pytest.raises(BadPayload, match="missing header"):
        p.finish()


def test_directory_last_commit_is_the_newest_not_the_largest_sha():
    from modelyard.hub.files import newest_commit
    from modelyard.hub.revisions import FileEntry

    files = {
        "sub/old.txt": FileEntry("sub/old.txt", "0" * 40, "0" * 64, 1, False, "f" * 40),
        "sub/new.txt": FileEntry("sub/new.txt", "1" * 40, "1" * 64, 1, False, "a" * 40),
        "top.txt": FileEntry("top.txt", "2" * 40, "2" * 64, 1, False, "b" * 40),
    }
    order = {"f" * 40: 100.0, "a" * 40: 200.0, "b" * 40: 300.0}
    assert newest_commit(files, "sub", order) == "a" * 40
    assert newest_commit(files, "", order) == "b" * 40


def test_reserved_account_names(tmp_path):
    from modelyard.db import Database, migrate
    from modelyard.errors import InvalidRepoName
    from modelyard.hub.accounts import Accounts

    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    migrate.upgrade(db)
    acc = Accounts(db)
    for name in ("endpoints", "API", "xet-cas", "static"):
        with pytest.raises(InvalidRepoName, match="reserved"):
            acc.create(name)
    assert acc.create("endpoint-fan").name == "endpoint-fan"
    db.dispose()
