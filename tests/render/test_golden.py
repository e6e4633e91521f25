"""Golden files: the bundled content rendered with a fixed revision time.

The files in tests/golden/ were read and checked by hand (times against a calendar, escaping,
structure). After an intended change, regenerate with ``LIVEPIPE_REGEN_GOLDEN=1 pytest
tests/render/test_golden.py`` and read the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..support import CONTENT
from .helpers import build_memory

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = [
    "events/operators-berlin.en.ics",
    "events/community-day-2027.en.ics",
    "events/office-hours-1201.en.ics",
    "calendar.ics",
    "feed.xml",
    "atom.xml",
    "feed.json",
    "wechat/observability1210-live.html",
    "wechat/observability1210-live.json",
    "wechat/observability1210-live.txt",
    "wechat/operators-berlin.en.txt",
    "newsletter/meetup-chengdu-20261219.html",
    "newsletter/meetup-chengdu-20261219.txt",
    "newsletter/digest-2026-W50.txt",
]


@pytest.fixture(scope="module")
def built() -> dict[str, bytes]:
    return build_memory(CONTENT)[1]


@pytest.mark.parametrize("path", CASES)
def test_golden(built: dict[str, bytes], path: str) -> None:
    golden = GOLDEN / path
    if os.environ.get("LIVEPIPE_REGEN_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(built[path])
    assert built[path] == golden.read_bytes()
