"""The documentation holds: the generated references equal what the code says now, every
settings key has a description, the room map names every module, the README stays short
and its links lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from livepipe.reference import cli_reference, settings_reference, undocumented

from .test_import_contract import modules

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_settings_reference_is_current() -> None:
    assert (DOCS / "settings.md").read_text(encoding="utf-8") == settings_reference(), (
        "docs/settings.md is stale: run `make docs`"
    )


def test_cli_reference_is_current() -> None:
    assert (DOCS / "cli.md").read_text(encoding="utf-8") == cli_reference(), (
        "docs/cli.md is stale: run `make docs`"
    )


def test_every_settings_key_says_what_it_does() -> None:
    assert undocumented() == []


def test_the_room_map_names_every_module() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    missing = sorted(
        str(path.relative_to(ROOT))
        for path in modules().values()
        if f"`{path.relative_to(ROOT)}`" not in text
    )
    assert missing == []


def test_readme_is_short_and_its_links_lead_somewhere() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    pages = [*re.findall(r"\]\(([^)#]+)", readme)]
    for doc in DOCS.glob("*.md"):
        pages += [
            str(Path("docs") / p)
            for p in re.findall(r"\]\(([^)#:]+\.md)", doc.read_text(encoding="utf-8"))
        ]
    missing = sorted({p for p in pages if not p.startswith("http") and not (ROOT / p).exists()})
    assert missing == []
