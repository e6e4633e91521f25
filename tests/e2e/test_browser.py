"""End to end in Debian's headless Chromium (driven by Playwright, never its own browser):
the index page of `livepipe serve`, its download and subscribe links, and a preview report.
Screenshots go to test-artifacts/ (LIVEPIPE_TEST_ARTIFACTS)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from livepipe.preview import make_preview, write_report
from livepipe.site import Site

from ..conftest import ARTIFACTS, Validators, failures
from ..support.serving import Served, pull_request_repo, serving

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path) as s:
        yield s


def shot(target: Any, name: str) -> Path:
    """A PNG of a page (whole length) or of one element (scrolled into view first: Chromium
    does not paint frames outside the viewport into a full-page capture)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if hasattr(target, "scroll_into_view_if_needed"):
        target.scroll_into_view_if_needed()
        target.screenshot(path=str(path))
    else:
        target.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a real picture, not an empty page
    return path


def test_index_in_chinese_shows_the_events_in_beijing_time(new_page: Any, served: Served) -> None:
    page = new_page(locale="zh-CN", timezone_id="Asia/Shanghai")
    page.goto(served.url + "/")
    assert page.locator("html").get_attribute("lang") == "zh"
    titles = page.locator("article.event h3 a").all_inner_texts()
    assert "云原生 Meetup 成都站" in titles and "WebAssembly at the Edge" not in titles
    # An event without a Chinese translation is listed in English (it was hidden).
    berlin = page.locator("article.event", has_text="Operators in Practice: Berlin")
    assert berlin.get_attribute("lang") == "en"
    assert berlin.locator(".when").inner_text().startswith("Thursday, 3 December 2026, 19:00")
    chengdu = page.locator("article.event", has_text="云原生 Meetup 成都站")
    assert (
        chengdu.locator(".when").inner_text()
        == "2026 年 12 月 19 日（周六）13:30–17:30（北京时间）"
    )
    # The viewer is in Beijing too: no second time line.
    assert not chengdu.locator(".yours").is_visible()
    shot(page, "index-zh")


def test_index_shows_the_viewers_own_time_elsewhere(new_page: Any, served: Served) -> None:
    page = new_page(locale="en-US", timezone_id="America/New_York")
    page.goto(served.url + "/")  # Accept-Language: en-US from the browser locale
    assert page.locator("html").get_attribute("lang") == "en"
    berlin = page.locator("article.event", has_text="Operators in Practice: Berlin")
    assert "19:00–21:30 (Europe/Berlin, UTC+01:00)" in berlin.locator(".when").inner_text()
    yours = berlin.locator(".yours")
    assert yours.is_visible()
    # 19:00 in Berlin (CET) is 13:00 in New York (EST); 21:30 is 15:30.
    text = yours.inner_text()
    assert text.startswith("Your time: Thursday, December 3, 2026") and "1:00" in text, text
    assert "3:30" in text and "EST" in text, text
    shot(page, "index-en-new-york")


@pytest.mark.parametrize(
    ("locale", "zone", "title", "expected"),
    [
        # the garbled "2026年12月10日星期四 13:00–GMT+1 14:00"
        (
            "zh-CN",
            "Europe/Berlin",
            "云原生可观测性实战",
            "你的时间：2026年12月10日星期四 GMT+1 13:00–14:00",
        ),
        # 19:00–21:30 in Berlin is 22:00–00:30 in Dubai: the end's date is kept
        (
            "zh-CN",
            "Asia/Dubai",
            "Operators in Practice: Berlin",
            "你的时间：2026年12月3日星期四 GMT+4 22:00 – 2026年12月4日星期五 GMT+4 00:30",
        ),
        (
            "en-US",
            "Asia/Dubai",
            "Operators in Practice: Berlin",
            "Your time: Thursday, December 3, 2026 at 10:00 PM GMT+4 – "
            "Friday, December 4, 2026 at 12:30 AM GMT+4",
        ),
    ],
)
def test_the_viewers_own_time_is_a_range_in_their_language(
    new_page: Any, served: Served, locale: str, zone: str, title: str, expected: str
) -> None:
    page = new_page(locale=locale, timezone_id=zone)
    page.goto(served.url + "/")
    yours = page.locator("article.event", has_text=title).locator(".yours")
    assert yours.inner_text() == expected


def test_newsletter_with_a_long_url_fits_a_phone(new_page: Any, tmp_path: Path) -> None:
    """A long replay URL made the newsletter 408 px wide at 390 px."""
    from ..render.helpers import build_memory

    (tmp_path / "content").mkdir()
    (tmp_path / "livepipe.toml").write_text(
        '[site]\nname = "T"\nbase_url = "https://t.example"\ntimezone = "UTC"\n'
    )
    replay = "https://www.example.org/replays/" + "a-very-long-replay-path-segment-" * 6 + "end"
    (tmp_path / "content" / "talk.md").write_text(
        f"---\ntitle: Talk\nstart: 2026-12-10T10:00:00Z\nreplay_url: {replay}\n"
        f"live_url: {replay}?live=1\n---\nSee {replay} for the recording.\n"
    )
    _, built = build_memory(tmp_path)
    for name in ("newsletter/talk.html", "newsletter/digest-2026-W50.html"):
        page = new_page(viewport={"width": 390, "height": 800})
        page.set_content(built[name].decode())
        assert page.locator("main").count() == 1
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390, name


def test_index_fits_a_phone(new_page: Any, served: Served) -> None:
    page = new_page(
        locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 375, "height": 800}
    )
    page.goto(served.url + "/")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
    shot(page, "index-phone")


@pytest.mark.validators
def test_download_and_subscribe_links_give_valid_calendars(
    new_page: Any, served: Served, validators: Validators, tmp_path: Path
) -> None:
    page = new_page(locale="en-US", timezone_id="UTC", accept_downloads=True)
    page.goto(served.url + "/")
    saved = []
    # The "Download .ics" button of the whole calendar: a real browser download.
    with page.expect_download() as info:
        page.locator("a[download]").first.click()
    saved.append(tmp_path / "download-calendar.ics")
    info.value.save_as(saved[-1])
    # Each event's add-to-calendar file, and each webcal:// subscription over https.
    hrefs = page.locator("a.ics").evaluate_all("els => els.map(e => e.href)")
    hrefs += [
        h.replace("webcal://", "http://", 1)
        for h in page.locator("a.subscribe").evaluate_all("els => els.map(e => e.href)")
    ]
    assert len(hrefs) >= 4
    for i, href in enumerate(hrefs):
        r = page.request.get(href)
        assert r.status == 200 and r.headers["content-type"] == "text/calendar; charset=utf-8"
        saved.append(tmp_path / f"link-{i}.ics")
        saved[-1].write_bytes(r.body())
    report = validators.ics(saved)
    assert report["ok"], failures(report)


def test_preview_report_renders_every_section(new_page: Any, tmp_path: Path) -> None:
    repo = pull_request_repo(tmp_path)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    index = write_report(make_preview(Site.locate(repo), base="HEAD", now=now), tmp_path / "pv")
    page = new_page(locale="en-US", timezone_id="UTC", viewport={"width": 1400, "height": 900})
    page.goto(index.as_uri())
    assert page.locator("#verdict").inner_text() == "Something needs a fix before merging."
    berlin = page.locator("article.event", has_text="Operators in Practice: Berlin")
    for section in (
        "calendar",
        "timeline",
        "wechat",
        "group-text",
        "newsletter",
        "feed",
        "validation",
    ):
        assert berlin.locator(f"section.{section}").is_visible(), section
    assert "2026-12-04 18:00–20:30 UTC" in berlin.locator("section.calendar").inner_text()
    new_rows = berlin.locator("section.timeline tr.new").all_inner_texts()
    assert any("reminder-1d → outbox" in r and "12-03 18:00Z" in r for r in new_rows), new_rows
    assert berlin.locator("section.timeline tr.withdraw").count() == 2
    # The WeChat article renders inside its phone frame, 375 px wide at most.
    frame = berlin.locator("section.wechat iframe")
    assert frame.bounding_box()["width"] <= 375
    article = frame.content_frame.locator("body")
    assert (
        "Operators in Practice: Berlin" in article.inner_text()
        or "Anna Schmidt" in article.inner_text()
    )
    mail = berlin.locator("section.newsletter iframe").content_frame.locator("body")
    assert "Operators in Practice: Berlin" in mail.inner_text()
    assert "Operators in Practice: Berlin" in berlin.locator("section.group-text pre").inner_text()
    assert "<item>" in berlin.locator("section.feed pre").first.inner_text()
    # A page title that tries to break out of the report stays text.
    hostile = page.locator("article.event", has_text="New </iframe><script>")
    assert hostile.count() == 1 and page.evaluate("window.__pwned === undefined")
    assert page.locator("section.failed-page").inner_text().count("broken.md:3") == 1
    shot(page, "preview-report")
    shot(berlin.locator("section.wechat"), "preview-wechat")
    shot(berlin.locator("section.newsletter"), "preview-newsletter")


def test_newsletter_with_a_cover_fits_375_px_with_images_blocked(
    browser: Any, tmp_path: Path
) -> None:
    """With remote images blocked (many mail clients' default) the cover's width="544" made
    the email 624 px wide on a 375 px phone."""
    from ..render.helpers import build_memory

    (tmp_path / "content").mkdir()
    (tmp_path / "livepipe.toml").write_text(
        '[site]\nname = "T"\nbase_url = "https://t.example"\ntimezone = "UTC"\n'
    )
    (tmp_path / "content" / "talk.md").write_text(
        "---\ntitle: Talk\nstart: 2026-12-10T10:00:00Z\n"
        "cover: https://images.example.org/cover-1600x900.png\n---\nAbout the talk.\n"
    )
    _, built = build_memory(tmp_path)
    context = browser.new_context(viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.abort())  # no remote images (a refused load)
        page.set_content(built["newsletter/talk.html"].decode())
        assert page.locator("img").count() == 1
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
    finally:
        context.close()
