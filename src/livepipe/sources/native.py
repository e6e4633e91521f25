"""Adapter for livepipe's native page schema (ISO 8601 times, explicit fields).

```yaml
title: Operators in practice
start: 2026-12-03T19:00:00+01:00   # or a wall-clock time plus `timezone`, or a date (all-day)
end: 2026-12-03T20:30:00+01:00     # optional: default duration / one day
timezone: Europe/Berlin            # IANA name; optional
location: Berlin, c-base           # optional; "online" for online only
live_url: https://…                # optional; makes the event online
replay_url: https://…              # optional
status: cancelled                  # optional: scheduled (default) | cancelled
repeat: {rrule: FREQ=WEEKLY;BYDAY=TU, until: 2027-03-01, except: [2026-12-22]}  # optional
tags: [operators, meetup]
speakers: [{name: Ada, bio: …}]    # or a list of names
```
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import ClassVar

from ..models import Speaker, Status
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
    images,
    list_items,
    qa_items,
    speakers,
    split_sections,
)

NATIVE_KEYS = HUGO_KEYS | {
    "start",
    "end",
    "timezone",
    "location",
    "online",
    "live_url",
    "replay_url",
    "status",
    "uid",
    "cover",
    "image",
    "speakers",
    "lang",
    "repeat",
}
_STATUS = {
    "scheduled": Status.SCHEDULED,
    "confirmed": Status.SCHEDULED,
    "cancelled": Status.CANCELLED,
    "canceled": Status.CANCELLED,
}
_ONLINE_WORDS = {"online", "线上", "virtual"}


class NativeSchema:
    name: ClassVar[str] = "native"
    default_timezone: ClassVar[str] = "UTC"
    default_language: ClassVar[str] = "en"

    def detect(self, meta: Mapping[str, object]) -> bool:
        return "start" in meta

    def extract(self, ctx: PageContext) -> Draft:
        page = ctx.page
        meta = page.meta
        ctx.check_keys(meta, NATIVE_KEYS)

        title = title_value(ctx)
        start = self._instant(ctx, "start", required=True)
        assert start is not None
        end = self._instant(ctx, "end", required=False)

        zone = text_value(ctx, meta.get("timezone"), "timezone") or None
        status_text = text_value(ctx, meta.get("status"), "status").lower() or "scheduled"
        if status_text not in _STATUS:
            raise ctx.error(
                "bad-value",
                f"status {status_text!r} is not one of scheduled, cancelled",
                line=page.line_of("status"),
                hint="write 'status: cancelled' or remove the key",
            )

        location = text_value(ctx, meta.get("location"), "location") or None
        live_url = text_value(ctx, meta.get("live_url"), "live_url") or None
        online_only = location is not None and location.lower() in _ONLINE_WORDS
        online = (
            bool_value(ctx, meta["online"], "online")
            if "online" in meta
            else online_only or live_url is not None
        )

        sections = split_sections(page.body)
        bio = find_section(sections, "Speakers", "Speaker", "About the speakers", "讲师简介")
        outline = find_section(sections, "Outline", "Agenda", "分享大纲")
        summary = find_section(sections, "About", "Abstract", "Summary", "分享内容简介")
        slides = find_section(sections, "Slides", "PPT 下载")
        outline_images = images(outline.text) if outline else []
        cover = meta.get("cover", meta.get("image"))

        return Draft(
            title=title,
            start=start,
            start_line=page.line_of("start"),
            end=end,
            end_line=page.line_of("end"),
            timezone=zone,
            timezone_line=page.line_of("timezone"),
            description=text_value(
                ctx, meta.get("description") or meta.get("summary"), "description"
            ),
            summary=summary.text if summary else "",
            location=None if online_only else location,
            online=online,
            in_person=location is not None and not online_only,
            live_url=live_url,
            replay_url=text_value(ctx, meta.get("replay_url"), "replay_url") or None,
            cover_image=text_value(ctx, cover, "cover") or None,
            outline_image=outline_images[0] if outline_images else None,
            outline=list_items(outline.text) if outline else (),
            tags=tags_value(ctx, meta.get("tags"), "tags"),
            status=_STATUS[status_text],
            speakers=self._speakers(ctx) or (speakers(bio.text) if bio else ()),
            qa=qa_items(page.body),
            slides=before_subsections(slides.text) if slides else "",
            uid=text_value(ctx, meta.get("uid"), "uid") or None,
            repeat=meta.get("repeat"),
            repeat_line=page.line_of("repeat"),
            translation_key=text_value(ctx, meta.get("translationKey"), "translationKey") or None,
            draft=bool_value(ctx, meta.get("draft"), "draft"),
            publish_date=meta.get("publishDate"),
            expiry_date=meta.get("expiryDate"),
            options=meta.get("livepipe"),
        )

    def _instant(self, ctx: PageContext, key: str, *, required: bool) -> datetime | date | None:
        value = ctx.page.meta.get(key)
        line = ctx.page.line_of(key)
        if value is None or value == "":
            if required:
                raise ctx.error(
                    "missing-time",
                    f"'{key}' is missing",
                    line=line,
                    hint=f"add '{key}: 2026-12-03T19:00:00+08:00'",
                )
            return None
        if isinstance(value, (datetime, date)):
            return value
        text = str(value).strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text)
        except ValueError as exc:
            raise ctx.error(
                "bad-time",
                f"{key} {text!r} is not an ISO 8601 date or date-time",
                line=line,
                hint="write e.g. 2026-12-03T19:00:00+08:00, 2026-12-03 19:00, or 2026-12-03",
            ) from exc

    def _speakers(self, ctx: PageContext) -> tuple[Speaker, ...]:
        raw = ctx.page.meta.get("speakers")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise ctx.error(
                "bad-value", "speakers must be a list", line=ctx.page.line_of("speakers")
            )
        out = []
        for item in raw:
            if isinstance(item, dict):
                name = str(item.get("name", "")).strip()
                photo = item.get("photo")
                out.append(
                    Speaker(name, str(item.get("bio", "")).strip(), str(photo) if photo else None)
                )
            else:
                out.append(Speaker(str(item).strip()))
        return tuple(out)
