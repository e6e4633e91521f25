"""Hostile sites, the rest of them: recurrence bombs (sub-daily through BY* lists, a rule that
never occurs, one that takes ages to find its dates), an `until` before the start, durations
across the clocks going back, paths in livepipe.toml that leave the site, a symlink out of a
folder `schema suggest` reads, a private URL on a page, and email list headers."""

from __future__ import annotations

import email
import email.policy
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

from livepipe.config import load_settings
from livepipe.errors import ConfigError
from livepipe.models import Severity
from livepipe.plan import plan
from livepipe.records import LedgerState
from livepipe.site import Site, load

from .render.helpers import artifacts

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def page(start: str = "2026-12-10T19:00:00+08:00", repeat: str = "", extra: str = "") -> str:
    return f"---\ntitle: T\nstart: {start}\nlocation: online\n{repeat}{extra}---\nbody\n"


def loaded(site: Path) -> tuple[list, list]:
    result = load(Site.locate(site), cache=False)
    return list(result.events), list(result.problems)


# -- recurrence bombs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        # 1,000 "starting soon" sends a second apart, 86,400 calendar entries a day
        ("FREQ=DAILY;BYHOUR=1,2,3;BYMINUTE=0,30;BYSECOND=0,1", "repeats every 1 s"),
        ("FREQ=DAILY;BYMINUTE=0,15,30,45", "repeats every 15 minutes"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "never occurs"),
        ("FREQ=MONTHLY;BYMONTH=4,6,9,11;BYMONTHDAY=31", "never occurs"),
        # every Monday 29 February, searched day by day until the year 9999
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", "takes more than 1 s"),
    ],
)
def test_a_recurrence_bomb_is_one_bad_repeat_problem(
    site: Path, write_page: Callable, rule: str, words: str
) -> None:
    write_page("bomb.md", page(repeat=f"repeat: {rule}\n"))
    write_page("good.md", page().replace("title: T", "title: Good"))
    started = time.monotonic()
    events, problems = loaded(site)
    assert time.monotonic() - started < 5
    bad = [p for p in problems if p.code == "bad-repeat"]
    assert len(bad) == 1 and bad[0].severity is Severity.ERROR and words in bad[0].message
    assert bad[0].path.endswith("bomb.md") and bad[0].line == 5
    assert [e.title for e in events] == ["Good"]  # the other page still builds


def test_the_repeat_limit_is_a_setting(site: Path, write_page: Callable) -> None:
    write_page("twice.md", page(repeat="repeat: FREQ=WEEKLY;BYDAY=TU;BYHOUR=19,20\n"))
    events, problems = loaded(site)  # an hour apart: the default limit allows it
    assert [e.title for e in events] == ["T"] and not problems
    with (site / "livepipe.toml").open("a", encoding="utf-8") as fh:
        fh.write('[pages]\nmin_repeat_interval = "2h"\n')
    write_page("twice.md", page(repeat="repeat: FREQ=WEEKLY;BYDAY=TU;BYHOUR=19,20\n"))
    _, problems = loaded(site)
    [bad] = [p for p in problems if p.code == "bad-repeat"]
    assert "at most every 2 hours" in bad.message


def test_a_rule_that_never_occurs_cannot_slow_what_uses_it() -> None:
    """Even past check (a ledger snapshot from an older version), expansion is bounded."""
    from livepipe import recurrence

    zone = "Asia/Shanghai"
    first = datetime(2026, 12, 10, 19, tzinfo=UTC)
    started = time.monotonic()
    found, finished = recurrence.expand(
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", first, zone, False, ()
    )
    assert (found, finished) == ((), False)
    assert time.monotonic() - started < 2


def test_until_before_the_start_is_one_occurrence_with_a_warning(
    site: Path, write_page: Callable
) -> None:
    write_page(
        "early.md",
        page(repeat="repeat: {rrule: FREQ=WEEKLY;BYDAY=TH, until: 2026-11-01}\n"),
    )
    events, problems = loaded(site)
    [warning] = [p for p in problems if p.code == "until-before-start"]
    assert warning.severity is Severity.WARNING and "one occurrence" in warning.message
    [event] = events
    assert event.rrule is None  # calendars and the plan agree: one occurrence
    the_plan = plan(events, LedgerState(), load_settings(site / "livepipe.toml"), NOW)
    assert {s.slot for s in the_plan.add} >= {"announce", "reminder-1d", "starting-soon"}


# -- durations are elapsed time --------------------------------------------------------------


def test_a_default_duration_across_the_fall_back_is_elapsed_time(
    site: Path, write_page: Callable
) -> None:
    """01:30 on the night New York's clocks go back, with the default 1 h: it ends at the
    second 01:30 (06:30Z), one hour later, not at 02:30 (two hours)."""
    write_page(
        "fold.md",
        "---\ntitle: Night owls\nstart: 2026-11-01T01:30:00\ntimezone: America/New_York\n"
        "location: online\n---\nx\n",
    )
    events, _ = loaded(site)
    [e] = events
    assert e.start.astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert e.end.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    arts = {a.path: a.data for a in artifacts(load(Site.locate(site), cache=False))}
    cal = icalendar.Calendar.from_ical(arts["calendar.ics"])
    [vevent] = cal.walk("VEVENT")
    start, end = vevent.decoded("dtstart"), vevent.decoded("dtend")
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=1)
    assert b"DTEND:20261101T063000Z" in arts["calendar.ics"]  # no TZID form for the 2nd 01:30


def test_a_mapped_duration_across_the_fall_back_is_elapsed_time(tmp_path: Path) -> None:
    (tmp_path / "_events").mkdir()
    (tmp_path / "livepipe.toml").write_text(
        '[site]\ncontent_dir = "."\n[pages]\nsections = ["_events"]\n'
        '[schemas.c]\nmatch = ["_events/**"]\nstart = "when"\nduration = "length"\n'
        'timezone = "tz"\n',
        encoding="utf-8",
    )
    (tmp_path / "_events" / "a.md").write_text(
        "---\ntitle: A\nwhen: 2026-11-01 01:00\nlength: 90 minutes\ntz: America/New_York\n---\n",
        encoding="utf-8",
    )
    [e] = load(Site.locate(tmp_path), cache=False).events
    assert e.end.astimezone(UTC) - e.start.astimezone(UTC) == timedelta(minutes=90)


# -- paths in livepipe.toml ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[site]\ncontent_dir = "../outside"\n', "site.content_dir"),
        ('[site]\ncontent_dir = "/etc"\n', "site.content_dir"),
        ('[site]\ncontent_dir = "linked"\n', "site.content_dir"),  # a symlink out
        ('[ledger]\nurl = "../ledger.sqlite"\n', "ledger.url"),
        ('[ledger]\nurl = "/tmp/elsewhere/new/ledger.sqlite"\n', "ledger.url"),
        ('[ledger]\nurl = "sqlite:///../x.sqlite"\n', "ledger.url"),
    ],
)
def test_paths_in_livepipe_toml_stay_in_the_site(tmp_path: Path, toml: str, key: str) -> None:
    site = tmp_path / "site"
    (site / "content").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.md").write_text(page(), encoding="utf-8")
    (site / "linked").symlink_to(tmp_path / "outside")
    (site / "livepipe.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(site / "livepipe.toml")
    assert f"{key} = " in str(caught.value) and "leaves the site's folder" in str(caught.value)


def test_paths_inside_the_site_are_fine(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "livepipe.toml").write_text(
        '[site]\ncontent_dir = "content"\n[ledger]\nurl = "state/new/ledger.sqlite"\n',
        encoding="utf-8",
    )
    settings = load_settings(tmp_path / "livepipe.toml")
    assert settings.ledger.url == "state/new/ledger.sqlite"


def test_channel_paths_stay_in_the_site(tmp_path: Path) -> None:
    from livepipe.config import ChannelSettings
    from livepipe.publish import PUBLISHERS

    (tmp_path / "site").mkdir()
    outbox = PUBLISHERS["outbox"](
        "o", ChannelSettings(type="outbox", path="../../tmp"), root=tmp_path / "site", env={}
    )
    with pytest.raises(ConfigError, match="leaves the site's folder"):
        outbox.validate()
    from livepipe.render.cover import find_font

    with pytest.raises(ConfigError, match="not a font file inside the site"):
        find_font("/usr/share/fonts/../../../etc/passwd", tmp_path / "site")


def test_schema_suggest_reads_only_files_inside_the_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from livepipe.cli import app

    events = tmp_path / "site" / "_events"
    events.mkdir(parents=True)
    (events / "a.md").write_text("---\ntitle: A\neventdate: 2026-12-10 19:00\n---\n")
    (tmp_path / "private.md").write_text("---\nsecret_key: TOP-SECRET-VALUE\n---\n")
    (events / "leak.md").symlink_to(tmp_path / "private.md")
    os.mkfifo(events / "fifo.md")
    result = CliRunner().invoke(app, ["schema", "suggest", str(events)])
    assert "TOP-SECRET-VALUE" not in result.output and "secret_key" not in result.output
    assert "1 pages with front matter" in result.output


def test_a_private_url_on_a_page_is_a_warning(site: Path, write_page: Callable) -> None:
    write_page(
        "inside.md",
        page(
            extra="cover: http://169.254.169.254/latest/meta-data/\nlive_url: http://localhost:8080/\n"
        ),
    )
    _, problems = loaded(site)
    found = sorted((p.line, p.message.split(":")[0]) for p in problems if p.code == "private-url")
    assert found == [(5, "cover image http"), (6, "live URL http")]
    with (site / "livepipe.toml").open("a", encoding="utf-8") as fh:
        fh.write('[network]\nallow = ["169.254.0.0/16", "127.0.0.0/8"]\n')
    _, problems = loaded(site)
    assert [p for p in problems if p.code == "private-url"] == []  # allowed on purpose


# -- URLs that urlsplit cannot read --------------------------------------------------------------


def test_a_url_that_cannot_be_read_is_a_warning_and_the_event_stays(
    site: Path, write_page: Callable
) -> None:
    """urlsplit raises on an unbalanced bracket in the host: the page was lost as an
    internal error; now the URL is ignored with a warning on its line, like any bad URL."""
    write_page("odd.md", page(extra='cover: "https://[x/a.png"\nlive_url: "https://x]:8/"\n'))
    events, problems = loaded(site)
    assert [e.title for e in events] == ["T"]
    assert events[0].cover_image is None and events[0].live_url is None
    bad = sorted((p.line, p.code, p.severity) for p in problems)
    assert bad == [(5, "bad-url", Severity.WARNING), (6, "bad-url", Severity.WARNING)]
    assert all("cannot be read as a URL" in p.message for p in problems)


def test_a_page_body_with_unreadable_urls_still_builds(site: Path, write_page: Callable) -> None:
    """Raw HTML and Markdown links in a page's body whose URL urlsplit cannot read: the
    sanitiser drops the attribute (keeps the text), and every artifact is made."""
    body = (
        'See <a href="https://[x">the room</a>, <img src="http://[::1" alt="map">, '
        '[the notes](https://[y/) and <a href="https://mp.weixin.qq.com]/s">more</a>.\n'
    )
    write_page("odd.md", page().replace("body\n", "## About\n\n" + body))
    write_page("plain.md", page(start="2026-12-11T19:00:00+08:00").replace("title: T", "title: P"))
    result = load(Site.locate(site), cache=False)
    made = {a.path: a.data.decode("utf-8") for a in artifacts(result)}
    article = next(v for k, v in made.items() if k.startswith("wechat/odd") and k.endswith(".html"))
    assert "the room" in article and "the notes" in article and "more" in article
    assert "[x" not in article and "[::1" not in article and "[y" not in article
    assert any(k.startswith("wechat/plain") for k in made)  # the other page too


# -- email list headers -----------------------------------------------------------------------


def test_list_headers_are_never_encoded_words(tmp_path: Path) -> None:
    from livepipe.config import ChannelSettings
    from livepipe.models import Message, SlotKind
    from livepipe.publish import PUBLISHERS

    (tmp_path / "subscribers.txt").write_text("someone@example.org\n")
    long = "https://newsletter.example-community.org/unsubscribe?email={email}&list=live"
    cfg = ChannelSettings(
        type="email",
        host="localhost",
        recipients_file="subscribers.txt",
        unsubscribe=[long, "mailto:leave@example-community.org?subject=unsubscribe"],
        **{"from": "示例社区 <live@example-community.org>"},
    )  # type: ignore[arg-type]
    channel = PUBLISHERS["email"](
        "news",
        cfg,
        root=tmp_path,
        env={},
        site_name="云原生社区直播",
        site_url="https://live.example.org",
    )
    channel.validate()
    message = Message(
        key="k" * 24,
        uid="u@x",
        slot="announce",
        kind=SlotKind.ANNOUNCE,
        channel="news",
        lang="zh",
        title="直播预告",
        text="内容\n",
        url="https://live.example.org/zh/a/",
        due=NOW,
    )
    raw = channel.build(message, ["someone@example.org"]).as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    unsub = [ln for ln in head.split(b"\n") if ln.lower().startswith(b"list-unsubscribe:")]
    assert len(unsub) == 1
    assert b"=?" not in unsub[0]
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    value = " ".join(str(parsed["List-Unsubscribe"]).split())
    assert value == (
        "<https://newsletter.example-community.org/unsubscribe?email=someone@example.org"
        "&list=live>, <mailto:leave@example-community.org?subject=unsubscribe>"
    )
    assert str(parsed["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(parsed["List-Id"]) == '"云原生社区直播" <news.live.example.org>'
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
