"""Generated docs are current, and every setting is documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from modelyard.config import OPTIONS, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_generated_docs_are_current() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_setting_is_declared_and_documented() -> None:
    declared = {o.name for o in OPTIONS}
    assert declared == set(Settings.__dataclass_fields__)
    text = (ROOT / "docs" / "settings.md").read_text()
    for name in declared:
        assert f"`{name}`" in text and f"MODELYARD_{name.upper()}" in text


def test_docs_images_and_local_links_exist() -> None:
    """Every image and relative link in docs/*.md and README.md names a file that is in the repository."""
    import re

    missing = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", md.read_text()):
            if "://" in target or target.startswith(("mailto:", "/")):
                continue
            if not (md.parent / target).exists():
                missing.append(f"{md.relative_to(ROOT)}: {target}")
    assert not missing, "\n".join(missing)
