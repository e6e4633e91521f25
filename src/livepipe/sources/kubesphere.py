"""Adapter for KubeSphere live pages (``content/zh/live/*.md`` on kubesphere.io).

Times are Beijing wall-clock times in ``section1.time``; the place and format in
``section1.base``; the replay in ``section1.videoUrl``; everything else in `##` body sections.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import ClassVar

from .base import (
    HUGO_KEYS,
    Draft,
    PageContext,
    bool_value,
    tags_value,
    text_value,
    title_value,
)
from .body import (
    before_subsections,
    find_section,
    first_url,
    images,
    list_items,
    qa_items,
    speakers,
    split_sections,
)

TOP_KEYS = HUGO_KEYS | {"css", "section1"}
SECTION1_KEYS = frozenset(
    {"snapshot", "videoUrl", "liveUrl", "type", "time", "timeIcon", "base", "baseIcon"}
)
_TIME = re.compile(
    r"^(\d{4})\s*-\s*(\d{1,2})\s*-\s*(\d{1,2})"
    r"(?:\s+(\d{1,2})\s*[:：]\s*(\d{2})"
    r"(?:\s*(?:-|–|—|~|～|至|到)\s*(\d{1,2})\s*[:：]\s*(\d{2}))?)?$"
)
_ONLINE = ("线上", "online", "Online")
_IN_PERSON_UNKNOWN = {"线下", "offline", "Offline"}

SUMMARY_SECTIONS = ("分享内容简介", "分享主题介绍", "议题简介", "内容简介", "摘要", "背景")
SPEAKER_SECTIONS = ("讲师简介", "分享人简介", "讲师", "分享人介绍", "嘉宾介绍", "分享人")
OUTLINE_SECTIONS = ("分享大纲", "议题大纲", "大纲", "活动议程", "议程海报", "议程")
SLIDES_SECTIONS = ("PPT 下载", "下载 PPT")
LIVE_SECTIONS = ("直播地址", "直播参与")


def parse_time(text: str) -> tuple[datetime | date, datetime | None, bool] | None:
    """``2022-10-13 20:00-21:00`` → (start, end, end_is_next_day); None when unrecognised.

    Start-only gives end None; date-only gives a ``date``. Raises ValueError for an impossible
    date or clock time.
    """
    m = _TIME.match(text.strip())
    if not m:
        return None
    y, mo, d, h1, m1, h2, m2 = m.groups()
    day = date(int(y), int(mo), int(d))
    if h1 is None:
        return day, None, False
    start = datetime.combine(day, time(int(h1), int(m1)))
    if h2 is None:
        return start, None, False
    end_day = day
    eh, em = int(h2), int(m2)
    if eh == 24 and em == 0:
        eh, end_day = 0, day + timedelta(days=1)
    end = datetime.combine(end_day, time(eh, em))
    next_day = end <= start and end_day == day
    if next_day:
        end += timedelta(days=1)
    return start, end, next_day


def parse_base(text: str) -> tuple[str | None, bool, bool]:
    """``section1.base`` → (location, online, in_person).

    ``线上`` online only; ``成都 + 线上`` in Chengdu and streamed; ``线下 + 线上`` hybrid with
    the venue unknown; anything without ``线上`` is in person only.
    """
    parts = [p.strip() for p in re.split(r"[+＋]", text) if p.strip()]
    online = any(p.startswith(_ONLINE) for p in parts)
    places = [p for p in parts if not p.startswith(_ONLINE)]
    in_person = bool(places)
    places = [p for p in places if p not in _IN_PERSON_UNKNOWN]
    return (" ".join(places) or None), online, in_person


class KubeSphereSchema:
    name: ClassVar[str] = "kubesphere"
    default_timezone: ClassVar[str] = "Asia/Shanghai"
    default_language: ClassVar[str] = "zh"

    def detect(self, meta: Mapping[str, object]) -> bool:
        return "section1" in meta

    def extract(self, ctx: PageContext) -> Draft:
        page = ctx.page
        meta = page.meta
        ctx.check_keys(meta, TOP_KEYS)
        sec1 = meta.get("section1")
        if not isinstance(sec1, dict):
            raise ctx.error(
                "bad-value",
                "section1 must be a mapping with time, base, videoUrl …",
                line=page.line_of("section1"),
            )
        ctx.check_keys(sec1, SECTION1_KEYS, parent="section1")

        title = title_value(ctx)

        time_line = page.line_of("section1", "time")
        raw_time = sec1.get("time")
        start: datetime | date
        end: datetime | None = None
        next_day = False
        if raw_time is None or raw_time == "":
            raise ctx.error(
                "missing-time",
                "section1.time is missing or empty",
                line=time_line,
                hint="write it as 2022-10-13 20:00-21:00",
            )
        if isinstance(raw_time, datetime):
            start = raw_time
        elif isinstance(raw_time, date):
            start = raw_time
        else:
            text = str(raw_time).strip()
            try:
                parsed = parse_time(text)
            except ValueError as exc:
                raise ctx.error(
                    "bad-time",
                    f"section1.time {text!r}: {exc}",
                    line=time_line,
                    hint="check the date and the clock times",
                ) from exc
            if parsed is None:
                raise ctx.error(
                    "bad-time",
                    f"section1.time {text!r} is not a date and time livepipe understands",
                    line=time_line,
                    hint="write it as 2022-10-13 20:00-21:00 (or a date, or a start time)",
                )
            start, end, next_day = parsed
        if isinstance(start, date) and not isinstance(start, datetime):
            ctx.warn(
                "date-only",
                f"section1.time {start.isoformat()} has no time of day: an all-day event",
                line=time_line,
                hint="add the start and end times, e.g. 2022-10-13 20:00-21:00",
            )
        elif next_day:
            ctx.warn(
                "end-next-day",
                "the end time is earlier than the start: taken as the next day",
                line=time_line,
            )

        base = text_value(ctx, sec1.get("base"), "section1", "base")
        location, online, in_person = parse_base(base)

        sections = split_sections(page.body)
        summary = find_section(sections, *SUMMARY_SECTIONS)
        bio = find_section(sections, *SPEAKER_SECTIONS)
        outline = find_section(sections, *OUTLINE_SECTIONS)
        slides = find_section(sections, *SLIDES_SECTIONS)
        live = find_section(sections, *LIVE_SECTIONS)
        outline_images = images(outline.text) if outline else []

        live_url = text_value(ctx, sec1.get("liveUrl"), "section1", "liveUrl") or (
            first_url(live.text) if live else None
        )
        if live_url:
            online = True
        return Draft(
            title=title,
            start=start,
            start_line=time_line,
            end=end,
            end_line=time_line,
            description=text_value(ctx, meta.get("description"), "description"),
            summary=summary.text if summary else "",
            location=location,
            online=online,
            in_person=in_person,
            live_url=live_url or None,
            replay_url=text_value(ctx, sec1.get("videoUrl"), "section1", "videoUrl") or None,
            cover_image=text_value(ctx, sec1.get("snapshot"), "section1", "snapshot") or None,
            outline_image=outline_images[0] if outline_images else None,
            outline=list_items(outline.text) if outline else (),
            tags=tags_value(ctx, meta.get("tags") or meta.get("keywords"), "keywords"),
            speakers=speakers(bio.text) if bio else (),
            qa=qa_items(page.body),
            slides=before_subsections(slides.text) if slides else "",
            translation_key=text_value(ctx, meta.get("translationKey"), "translationKey") or None,
            draft=bool_value(ctx, meta.get("draft"), "draft"),
            publish_date=meta.get("publishDate"),
            expiry_date=meta.get("expiryDate"),
            options=meta.get("livepipe"),
        )
