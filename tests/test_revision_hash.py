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

from .conftest import CONTENT, CORPUS, body_of


def expected(event: Event, names: tuple[str, ...], **extra: object) -> str:
    def plain(value: object) -> object:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, tuple) and value and isinstance(value[0], Speaker | QA):
            return [asdict(v) for v in value]  # type: ignore[call-overload]
        return value

    data = {name: plain(getattr(event, name)) for name in names} | extra
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
