"""Revision and significant hashes are kept in the ledger: the text they hash must stay
``json.dumps(fields, sort_keys=True, ensure_ascii=False)`` with datetimes as ISO 8601 and
speakers/Q&A as objects, however the encoder is called; the page's Markdown body is in it as
the ``body`` field events once carried."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from datetime import datetime

from livepipe import normalize
from livepipe.models import QA, Event, Speaker
from livepipe.site import Site, load

from .conftest import body_of
from .support import CONTENT, CORPUS


def expected(event: Event, names: tuple[str, ...], **extra: object) -> str:
    def plain(value: object) -> object:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, tuple) and value and isinstance(value[0], Speaker | QA):
            return [asdict(v) for v in value]  # type: ignore[call-overload]
        return value

    data = {
        name: plain(getattr(event, name))
        for name in names
        if getattr(event, name) not in (None, ()) or name not in normalize._LATER_FIELDS
    } | extra
    text = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def test_hashes_of_every_page() -> None:
    bodies: dict[str, str] = {}
    events: list[Event] = []
    for root in (CONTENT, CORPUS) if CORPUS.is_dir() else (CONTENT,):
        site = Site.locate(root)
        loaded = load(site, cache=False).events
        events += loaded
        bodies |= {e.uid: body_of(site.content_root / e.source) for e in loaded}
    hostile = replace(
        events[0],
        title='a "quoted" \\ title\u2028 🎉 \x07 </script>',
        speakers=(Speaker("名字", 'bio "x"\n'), Speaker("", "")),
        qa=(QA("q?", "a\ttab"),),
    )
    for e in [*events, hostile]:
        body = "" if e is hostile else bodies[e.uid]
        assert e.revision == expected(e, normalize._HASHED, body=body) or e is hostile
        assert normalize._hash(e, normalize._HASHED, body=body) == expected(
            e, normalize._HASHED, body=body
        )
        assert e.significant == expected(e, normalize.SIGNIFICANT_FIELDS) or e is hostile
    assert len(events) > 5


# What the version before Event.register_url computed for bundled pages (run on that commit):
# a field added later must not change the hash of a page that does not use it.
BEFORE_REGISTER_URL = {
    "zh/live/gitops1022-live.md": ("f251dafb142a316a", "42ce81970effc5f1"),
    "en/events/operators-berlin.md": ("f86a66431c087c7b", "d01f7c4ff509314a"),
    "en/events/community-day-2027.md": ("115bf75fac3e56ca", "c972c56f8fe9104a"),
}


def test_fields_added_later_keep_every_existing_hash() -> None:
    events = {e.source: e for e in load(Site.locate(CONTENT), cache=False).events}
    now = {src: (events[src].revision, events[src].significant) for src in BEFORE_REGISTER_URL}
    assert now == BEFORE_REGISTER_URL
    with_url = replace(events["en/events/operators-berlin.md"], register_url="https://r.example")
    assert normalize._hash(with_url, normalize._HASHED) != normalize._hash(
        events["en/events/operators-berlin.md"], normalize._HASHED
    )
