"""WeChat's mass-send policy, on the channel's typed options (options.WeChatOptions):

- reviewers first: a channel with ``mass_send`` and ``preview_to`` sends each message to its
  reviewers ``preview_lead`` before everyone (slots.fan_out makes that send);
- once a day: with ``mass_send = "daily"`` the day's announcements are gathered into one
  send at ``daily_at`` (site zone) carrying up to 8 events (``Send.carries``); an
  announcement waits for the next daily time, one the 8 are full for for the day after, one
  whose own window ends first is left out (its reminders still go).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from ..config import ChannelSettings, Settings
from ..identity import site_uid
from ..models import SlotKind
from ..records import DAILY_PREFIX, Audience, EventRecord, Send
from ..timeutil import get_zone

MAX_ARTICLES = 8  # WeChat: at most 8 articles in one mass-send


def reviewers_first(channel: ChannelSettings) -> timedelta | None:
    """How long before a mass-send its reviewers get it (a ``wechat`` channel with
    ``mass_send`` and ``preview_to``), else None."""
    if channel.type != "wechat":
        return None
    lead: timedelta | None = channel.options.reviewers_first
    return lead


def daily_at(channel: ChannelSettings) -> str | None:
    """The local time a ``mass_send = "daily"`` WeChat channel sends its one message of the
    day; None for the others."""
    if channel.type != "wechat":
        return None
    at: str | None = channel.options.daily
    return at


def gather(
    desired: list[Send], records: Mapping[str, EventRecord], settings: Settings
) -> list[Send]:
    """``desired`` with the announcements to daily channels replaced by the day's gathered
    sends (and their reviewers' previews)."""
    daily = {n: t for n, c in settings.channels.items() if (t := daily_at(c))}
    if not daily:
        return desired
    keep: list[Send] = []
    waiting: dict[tuple[str, str], list[Send]] = {}
    for s in desired:
        if s.kind == SlotKind.ANNOUNCE and s.channel in daily and s.uid in records:
            waiting.setdefault((s.slot, s.channel), []).append(s)
        else:
            keep.append(s)
    uid = site_uid(settings.site.base_url)
    for (slot, channel), sends in waiting.items():
        lead = reviewers_first(settings.channels[channel])
        for day, group in daily_groups(sends, daily[channel], settings):
            due = group[0][1]
            carries = tuple(s.uid for s, _ in group)
            until = min([due + timedelta(hours=6), *(s.valid_until for s, _ in group)])
            gathered = Send(
                "",
                uid,
                slot,
                SlotKind.ANNOUNCE,
                channel,
                DAILY_PREFIX + day,
                due,
                until,
                carries=carries,
            )
            keep.append(gathered.keyed())
            if lead is not None:  # the reviewers get the day's push `lead` before it goes
                preview = replace(
                    gathered, due=due - lead, valid_until=due, audience=Audience.REVIEWERS
                )
                keep.append(preview.keyed())
    return keep


def daily_groups(
    sends: Iterable[Send], at: str, settings: Settings
) -> list[tuple[str, list[tuple[Send, datetime]]]]:
    """(local date, [(send, the daily due it goes at)]) for announcements to a daily channel:
    each at the first daily time after it came due, 8 a day at most, first come first."""
    zone = get_zone(settings.site.timezone or "UTC")
    hour, minute = (int(x) for x in at.split(":"))
    days: dict[str, list[tuple[Send, datetime]]] = {}
    for s in sorted(sends, key=lambda s: (s.due, s.uid)):
        local = s.due.astimezone(zone)
        slot = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if slot < local:
            slot += timedelta(days=1)
        while True:
            day = slot.date().isoformat()
            if len(days.setdefault(day, [])) < MAX_ARTICLES:
                break
            slot += timedelta(days=1)
        if slot < s.valid_until:
            days[day].append((s, slot))
    return [(d, g) for d, g in sorted(days.items()) if g]
