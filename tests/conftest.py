"""Shared fixtures: the bundled example site, the real corpus (when present), page writers."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
SHARED = Path(os.environ.get("LIVEPIPE_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus" / "kubesphere-live"
HISTORY = SHARED / "corpus" / "kubesphere-live-history"

# Unit tests must never start a Prefect server by accident (PREFECT.md §1).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_ENABLED", "false")


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"real corpus not found at {CORPUS} (it exists in CI)")
    return CORPUS


@pytest.fixture(scope="session")
def history() -> Path:
    if not HISTORY.is_dir():
        pytest.skip(f"corpus history not found at {HISTORY} (it exists in CI)")
    return HISTORY


@pytest.fixture
def write_page(tmp_path: Path) -> Callable[..., Path]:
    """Write a page under tmp_path/content (str → UTF-8, bytes as given)."""

    def write(name: str, text: str | bytes) -> Path:
        path = tmp_path / "content" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """An empty site root with a livepipe.toml, Beijing time, zh + en."""
    (tmp_path / "content").mkdir(exist_ok=True)
    (tmp_path / "livepipe.toml").write_text(
        '[site]\nname = "Test"\nbase_url = "https://live.test"\ntimezone = "Asia/Shanghai"\n'
        'default_language = "zh"\nlanguages = ["zh", "en"]\n',
        encoding="utf-8",
    )
    return tmp_path
