"""Pure parts of the push importer (git/receive.py): LFS pointers, ref names, commit and tag objects."""

from __future__ import annotations

from datetime import UTC, datetime

from modelyard.git.objects import lfs_pointer_of, parse_commit, parse_tag, split_message
from modelyard.git.receive import _Problems, classify
from modelyard.hub.gitobjects import object_sha
from modelyard.storage.hashing import lfs_pointer

SHA = "ab" * 32


def test_only_canonical_pointers_are_lfs_entries() -> None:
    assert lfs_pointer_of(lfs_pointer(SHA, 12345)) == (SHA, 12345)
    canonical = lfs_pointer(SHA, 5)
    for other in (
        canonical.replace(b"\n", b"\r\n"),  # CRLF
        canonical + b"\n",  # trailing blank line
        canonical.replace(SHA.encode(), SHA.upper().encode()),  # upper-case hex
        canonical.replace(b"size 5", b"size 05"),  # not how git-lfs writes it
        canonical.replace(b"oid ", b"ext-0-foo sha256:" + SHA.encode() + b"\noid "),  # extensions
        canonical[:-1],  # no final newline
        b"",
        b"hello",
    ):
        assert lfs_pointer_of(other) is None, other


def test_ref_classes() -> None:
    assert classify("refs/heads/main") == ("branch", "main")
    assert classify("refs/heads/feature/x") == ("branch", "feature/x")
    assert classify("refs/tags/v1.0") == ("tag", "v1.0")
    assert classify("refs/pr/12") == ("pr", "12")
    for bad, why in (
        ("refs/notes/commits", "only branches"),
        ("refs/heads/HEAD", "HEAD is reserved"),
        ("refs/heads/a@b", "invalid branch name"),
        ("refs/tags/x.lock", "invalid tag name"),
        ("refs/pr/01", "refs/pr/<number>"),
        ("refs/pr/x", "refs/pr/<number>"),
        ("refs/pr/\u0661", "refs/pr/<number>"),  # a non-ASCII digit
        ("HEAD", "only branches"),
        ("refs/remotes/origin/main", "only branches"),
    ):
        got = classify(bad)
        assert isinstance(got, str) and why in got and bad in got, (bad, got)


def test_commit_objects_parsed_and_kept_verbatim() -> None:
    raw = (
        b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
        b"parent " + b"1" * 40 + b"\n"
        b"parent " + b"2" * 40 + b"\n"
        b"author Zed <z@example.org> 1700000000 +0530\n"
        b"committer Ann <a@example.org> 1700000100 -0700\n"
        b"gpgsig -----BEGIN PGP SIGNATURE-----\n \n parent " + b"3" * 40 + b"\n -----END PGP SIGNATURE-----\n"
        b"\n"
        b"Merge things\n\n\nBody line one\nline two\n\n"
    )
    sha = object_sha("commit", raw)
    c = parse_commit(sha, raw)
    assert c.raw == raw and c.sha == sha
    assert c.tree == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    assert c.parents == ["1" * 40, "2" * 40]  # the signature's lines are not headers
    assert c.committed_at == datetime.fromtimestamp(1700000100, UTC)
    assert (c.title, c.message) == ("Merge things", "Body line one\nline two")
    assert split_message("one line") == ("one line", "")
    assert split_message("") == ("", "")


def test_tag_objects() -> None:
    raw = (
        b"object " + b"1" * 40 + b"\ntype commit\ntag v1\ntagger T <t@x> 1700000000 +0000\n\n"
        b"release one\n-----BEGIN PGP SIGNATURE-----\nxyz\n-----END PGP SIGNATURE-----\n"
    )
    assert parse_tag(raw) == ("1" * 40, "commit", "release one")


def test_refusal_lines() -> None:
    p = _Problems(
        large=["  - big.txt (ref: refs/heads/main)"], lfs=["  - x.bin (ref: refs/heads/main): sha256:..."]
    )
    text = "\n".join(p.lines())
    assert "Your push was rejected because it contains files larger than 10 MiB." in text
    assert "Offending files:\n  - big.txt (ref: refs/heads/main)" in text
    assert "git lfs push" in text
