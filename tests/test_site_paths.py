"""Page ids and the names problems use are computed from strings (no resolve(), no relpath()
per page); they must equal what pathlib and os.path.relpath give, from any working folder."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from livepipe.site import _display, _relative


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "site" / "content"
    page = root / "zh" / "live" / "a b.md"
    page.parent.mkdir(parents=True)
    page.write_text("x")
    (tmp_path / "elsewhere").mkdir()
    return root, page


@pytest.mark.parametrize(
    "cwd", [".", "site", "site/content", "site/content/zh", "site/content/zh/live", "elsewhere"]
)
def test_display_is_relpath_from_any_working_folder(
    tree: tuple[Path, Path], tmp_path: Path, cwd: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, page = tree
    monkeypatch.chdir(tmp_path / cwd)
    assert _display(page, root) == os.path.relpath(page)
    assert _relative(page, root) == PurePosixPath("zh/live/a b.md")


def test_a_page_outside_the_root_or_through_a_symlink(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    link = root.parent / "link"
    link.symlink_to(root)
    assert _relative(link / "zh" / "live" / "a b.md", root) == PurePosixPath("zh/live/a b.md")
    assert _relative(root.parent / "other.md", root) == PurePosixPath("other.md")
    # a sibling folder whose name starts like the root's is not inside it
    sibling = root.parent / "content2" / "x.md"
    assert _relative(sibling, root) == PurePosixPath("x.md")
    assert _display(sibling, root) == os.path.relpath(sibling)


def test_discover_orders_pages_as_paths_sort(tmp_path: Path) -> None:
    """Which of two pages with one uid wins depends on this order: it must stay Path order
    (by parts), which is not the order of the path strings."""
    from livepipe.sources.files import discover

    names = ["a/b.md", "a-c.md", "a.md", "A/z.md", "a/b/c.md", "a b.md", "中/x.md", "a/_index.md"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    found = list(discover(tmp_path))
    assert found == sorted(found) and len(found) == len(names)
    # the strings disagree: "a-c.md" < "a/b.md", but a/b.md comes first
    assert str(tmp_path / "a-c.md") < str(tmp_path / "a" / "b.md")
    assert found.index(tmp_path / "a" / "b.md") < found.index(tmp_path / "a-c.md")


def test_page_ids_are_what_pathlib_says() -> None:
    """page_id works on strings; the rule is the PurePath one (kept here as the oracle)."""
    from livepipe.identity import page_id

    def oracle(rel: PurePosixPath) -> str:
        pid = rel.with_suffix("") if rel.suffix in {".md", ".markdown"} else rel
        if pid.name == "index" and len(pid.parts) > 1:
            pid = pid.parent
        return str(pid)

    names = ["a.md", "a.markdown", "a..md", ".md", "a.md.md", "a.MD", "a.", "index.md", "a.txt"]
    names += ["index", "index.markdown", "index.en.md", "中文.md", "a b.md", "x.en.md"]
    for folder in ["", "zh/live", "a.md", "index", "x/index"]:
        for name in names:
            rel = PurePosixPath(folder) / name if folder else PurePosixPath(name)
            assert page_id(rel) == oracle(rel), rel
