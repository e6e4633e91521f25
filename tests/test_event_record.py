"""The ledger keeps each event as a JSON record (its snapshot) to render messages later: it
comes back as the same event, including records older versions wrote with fields Event has
since lost."""

from __future__ import annotations

import json

from livepipe.models import Event
from livepipe.site import Site, load

from .support import CONTENT, CORPUS


def real_events() -> list[Event]:
    events: list[Event] = []
    for root in (CONTENT, CORPUS):
        if root.is_dir():
            events += load(Site.locate(root), cache=False).events
    return events


def test_record_round_trip() -> None:
    events = real_events()
    assert len(events) > 5
    for event in events:
        assert Event.from_record(event.to_record()) == event


def test_record_from_an_older_version_with_body_and_sections() -> None:
    # Before Event lost them, records carried the page body and an (always empty) sections list.
    for event in real_events()[:20]:
        old = json.loads(event.to_record())
        assert "body" not in old and "sections" not in old
        old |= {"body": "## 分享内容简介\n\n旧的正文 <b>&</b>", "sections": []}
        assert Event.from_record(json.dumps(old, ensure_ascii=False)) == event
