"""'Add to calendar' in the messages: the .ics link of each message names the file the build
wrote for that event, and the Google and Outlook links carry its instant in UTC."""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livepipe.build import build
from livepipe.render.links import _query
from livepipe.render.messages import render_message
from livepipe.render.templating import Templates
from livepipe.site import Site, load

from ..support import ROOT, make_send


def test_every_messages_calendar_link_is_a_file_of_the_build(tmp_path: Path) -> None:
    site = Site.locate(ROOT)
    loaded = load(site)
    built = build(loaded, tmp_path / "dist")
    base = site.settings.site.base_url
    checked = 0
    for e in loaded.events:
        if e.cancelled:
            continue
        send = make_send(key="k" * 24, uid=e.uid, channel="x", due=e.start, valid_until=e.end)
        m = render_message(send, e, site.settings, Templates(ROOT / "templates"))
        [link] = re.findall(rf"{re.escape(base)}/events/\S+\.ics", m.text)
        assert (tmp_path / "dist" / link.removeprefix(base + "/")).is_file(), link
        assert link.endswith(f"/events/{built.stems[e.uid]}.ics")
        google = re.search(r'href="(https://calendar\.google\.com/[^"]+)"', m.html or "")
        assert google is not None
        query = parse_qs(urlsplit(google.group(1).replace("&amp;", "&")).query)
        if not e.all_day:
            start = e.start.astimezone(UTC)
            assert query["dates"][0].startswith(f"{start:%Y%m%dT%H%M%SZ}/")
        assert query["text"] == [e.title]
        checked += 1
    assert checked >= 6


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.text(max_size=40), max_size=4))
def test_the_query_is_urlencoded_as_urllib_does(fields: dict[str, str]) -> None:
    """Titles and places in any script (and lone surrogates refused alike) encode as urllib's."""
    try:
        expected = urlencode(fields)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            _query(fields)
        return
    assert _query(fields) == expected
