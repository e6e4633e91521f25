"""The message of one send: title and text for its slot kind, from `templates/messages/`.

Rendered at send time from the ledger's snapshot of the event, so publishing never re-reads
content/ and a page broken after planning still gets its reminder with the last good data.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from .. import recurrence
from ..config import Settings
from ..i18n import FALLBACK, Phrases, phrases
from ..models import Event, Message, SlotKind
from ..records import Send, StreamRecord, StreamStatus
from .context import BuildContext
from .templating import Templates


def _lead(now: datetime, event: Event, words: Phrases, live: bool = False) -> str:
    """“明天开始” / “Starting in 10 minutes” / “Live now”: how far the start is from the
    moment the message goes out (``now``, never the planned due time: after an outage the
    text must still be true), or live now when the stream is."""
    ahead = event.start - now
    if live or ahead < timedelta(seconds=30):
        return words("lead.live")
    if ahead >= timedelta(hours=20):
        days = round(ahead / timedelta(days=1))
        return words("lead.tomorrow") if days == 1 else words("lead.days", n=days)
    minutes = max(1, round(ahead / timedelta(minutes=1)))
    if minutes >= 60:
        return words("lead.hours", n=round(minutes / 60))
    return words("lead.minutes", n=minutes)


def _live(event: Event, stream: StreamRecord | None, at: datetime, fresh: timedelta) -> bool:
    """Is the event live at ``at``? What the watcher saw lately, else the clock's word."""
    if stream is not None and stream.checked_at is not None and at - stream.checked_at <= fresh:
        return stream.status is StreamStatus.LIVE
    return event.start <= at + timedelta(seconds=30) < event.end + timedelta(seconds=30)


ALL_PARTS = frozenset({"html", "article"})


# How a caller may share renderings (``Sender``: the channels of one event, for a few
# seconds): ``reuse(key, make)`` returns what ``make()`` returned for an equal key, or calls it.
Reuse = Callable[[Hashable, Callable[[], dict[str, Any]]], dict[str, Any]]


def render_message(
    send: Send,
    event: Event | None,
    settings: Settings,
    templates: Templates,
    *,
    week_events: Sequence[Event] = (),
    now: datetime | None = None,
    parts: Collection[str] = ALL_PARTS,
    stream: StreamRecord | None = None,
    sequence: int = 0,
    reuse: Reuse | None = None,
) -> Message:
    """The message as it reads at ``now`` (default: the send's due time), the moment it
    goes out: texts that state a time are computed from it. ``parts`` names what is rendered
    besides the text ("html", "article"): only what the channel reads (``Channel.reads``).
    ``stream``: what the watcher saw of the occurrence (is it live now, the replay it
    found). ``reuse``: renderings made from equal inputs may be shared (the key holds the
    event, the slot kind and every word that depends on ``now``: the lead, live or not, the
    time it went live); a recurring event's next dates follow the clock, so it never is."""
    at = now or send.due
    ctx = BuildContext(settings=settings, events=tuple(week_events), templates=templates, now=at)
    series = event if event is not None and event.rrule else None
    if series is not None:
        ctx.series[series.uid] = series
    if send.kind == SlotKind.DIGEST:
        lang = settings.site.language
        text = templates.render(
            "messages",
            "digest.txt",
            lang,
            site=settings.site,
            week=send.occurrence,
            events=[ctx.view(e) for e in week_events],
        )
        return _message(send, lang, text, settings.site.base_url + "/", sequence=sequence)
    assert event is not None, f"send {send.key} has no event snapshot"
    if event.rrule:  # the occurrence this send is about
        start = recurrence.parse_occurrence(send.occurrence)
        event = recurrence.at(event, start) if start else recurrence.current(event, at)
    if stream is not None and stream.replay_url and not event.replay_url:
        event = replace(event, replay_url=stream.replay_url)
    lang = event.lang
    live = _live(event, stream, at, settings.watch.interval * 2)
    started = ""
    if stream is not None and stream.live_at is not None:
        started = stream.live_at.astimezone(event.start.tzinfo).strftime("%H:%M")
    lead = (
        _lead(at, event, phrases(lang, templates.site_root), live)
        if send.kind == SlotKind.REMINDER
        else ""
    )
    wanted = frozenset(parts) & ALL_PARTS
    shown = event

    def make() -> dict[str, Any]:
        return _rendered(send.kind, shown, settings, ctx, live, lead, started, wanted)

    if reuse is None or series is not None:
        made = make()
    else:
        made = reuse((send.kind, event, live, lead, started, wanted), make)
    return _message(send, lang, event=event, sequence=sequence, series=series, **made)


def _rendered(
    kind: SlotKind,
    event: Event,
    settings: Settings,
    ctx: BuildContext,
    live: bool,
    lead: str,
    started: str,
    parts: frozenset[str],
) -> dict[str, Any]:
    """The text and the parts a channel reads, of one event's message (shareable)."""
    templates = ctx.templates
    lang = event.lang
    text = templates.render(
        "messages",
        f"{kind}.txt",
        lang,
        e=ctx.view(event),
        site=settings.site,
        lead=lead,
        live=live,
        started=started,
    )
    article = meta = html = None
    if "article" in parts:
        from .wechat import WeChatRenderer

        wechat = WeChatRenderer()
        article, meta = wechat.article(event, ctx), wechat.meta(event, ctx)
    if "html" in parts and kind in NEWSLETTER_KINDS:
        from markupsafe import Markup

        from .html import EMAIL, markdown_html

        html = templates.render(
            "newsletter",
            "event.html",
            lang,
            e=ctx.view(event),
            site=settings.site,
            summary_html=Markup(markdown_html(event.summary, EMAIL, shift_headings=True)),
            text_only=len(text.encode("utf-8")) < COVER_MIN_TEXT,
        )
    return {
        "text": text,
        "url": event.url,
        "html": html,
        "article": article,
        "article_meta": meta,
        "calendar_url": ctx.view(event).ics_url,
    }


# The newsletter email is about the event itself: its announcement, a change, a
# cancellation. Reminders and replay notices are their text (an email channel makes the
# HTML part from it): a full newsletter beside a two-line text is an alternative that
# says something else (SpamAssassin's MPART_ALT_DIFF, +2.2).
NEWSLETTER_KINDS = frozenset({SlotKind.ANNOUNCE, SlotKind.CHANGED, SlotKind.CANCELLED})
# An email whose only image comes with little text reads as image spam (SpamAssassin's
# HTML_IMAGE_ONLY_xx: any image and under 3,200 bytes of words, up to +2.2): the cover is
# left out of shorter emails (the event's page and the WeChat article keep it).
COVER_MIN_TEXT = 3200


def _message(send: Send, lang: str, text: str, url: str, **parts: Any) -> Message:
    """The Message of ``send``: the rendered text's first line is its title."""
    title, _, body = text.strip().partition("\n")
    return Message(
        key=send.key,
        uid=send.uid,
        slot=send.slot,
        kind=send.kind,
        channel=send.channel,
        lang=lang,
        title=title.strip(),
        text=body.strip() + "\n",
        url=url,
        due=send.due,
        audience=str(send.audience),
        **parts,
    )


def written_message(send: Send, settings: Settings) -> Message:
    """The message of a send whose text was written when it was made (an alert), in the
    site's language."""
    return _message(send, settings.site.language, send.text, settings.site.base_url + "/")


def render_gathered(
    send: Send,
    events: Sequence[Event],
    settings: Settings,
    templates: Templates,
    *,
    now: datetime | None = None,
    parts: Collection[str] = ALL_PARTS,
) -> Message:
    """One message carrying several events' announcements (a daily WeChat mass-send: up to
    8 articles in one push); its text lists them, its articles are theirs."""
    ctx = BuildContext(settings=settings, events=tuple(events), templates=templates)
    lang = settings.site.default_language or (events[0].lang if events else FALLBACK)
    text = ""
    if events:
        text = templates.render(
            "messages", "gathered.txt", lang, events=[ctx.view(e) for e in events]
        )
    articles: tuple[tuple[str, dict[str, str | None], Event], ...] = ()
    if "article" in parts:
        from .wechat import WeChatRenderer

        wechat = WeChatRenderer()
        articles = tuple((wechat.article(e, ctx), wechat.meta(e, ctx), e) for e in events)
    return _message(
        send,
        lang,
        text,
        settings.site.base_url + "/",
        article=articles[0][0] if articles else None,
        article_meta=articles[0][1] if articles else None,
        articles=articles,
    )


def week_bounds(occurrence: str, zone_name: str) -> tuple[datetime, datetime]:
    """``2026-W50`` → [Monday 00:00, next Monday 00:00) in the zone."""
    from ..timeutil import get_zone

    start = datetime.strptime(occurrence + "-1", "%G-W%V-%u").replace(tzinfo=get_zone(zone_name))
    return start, start + timedelta(days=7)
