"""Reminder text is computed when it goes out, from the real time left: after an outage a
"starting in 10 minutes" that goes out 3 min 17 s before the start says 3 minutes, after the
start it says "live now", and no reminder is valid after the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from livepipe.config import Settings
from livepipe.models import SlotKind
from livepipe.records import Send
from livepipe.render.messages import render_message
from livepipe.render.templating import Templates
from livepipe.site import load_path

from ..support import CONTENT, make_send


def event(lang: str):  # type: ignore[no-untyped-def]
    slug = "observability1210-live" if lang == "zh" else "operators-berlin"
    return next(e for e in load_path(CONTENT).events if e.slug == slug and e.lang == lang)


def reminder(e, offset: timedelta) -> Send:  # type: ignore[no-untyped-def]
    return make_send(
        key="k" * 24,
        uid=e.uid,
        slot="starting-soon",
        kind=SlotKind.REMINDER,
        occurrence="x",
        due=e.start + offset,
        valid_until=e.end,
    )


# (time left when it goes out, English title start, Chinese title start, live?)
CASES = [
    (timedelta(days=1), "Tomorrow:", "【明天开始】", False),
    (timedelta(days=3), "In 3 days:", "【3 天后开始】", False),
    (timedelta(hours=2), "Starting in 2 h:", "【2 小时后开始】", False),
    (timedelta(minutes=10), "Starting in 10 minutes:", "【10 分钟后开始】", False),
    (timedelta(minutes=3, seconds=17), "Starting in 3 minutes:", "【3 分钟后开始】", False),
    (timedelta(minutes=8, seconds=36), "Starting in 9 minutes:", "【9 分钟后开始】", False),
    (timedelta(seconds=50), "Starting in 1 minutes:", "【1 分钟后开始】", False),
    (timedelta(seconds=10), "Live now:", "【直播中】", True),
    (-timedelta(minutes=5), "Live now:", "【直播中】", True),
]


@pytest.mark.parametrize(("left", "en", "zh", "live"), CASES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_reminder_text_states_the_time_left_when_it_is_sent(
    lang: str, left: timedelta, en: str, zh: str, live: bool
) -> None:
    e = event(lang)
    send = reminder(e, -timedelta(minutes=10))  # planned for T−10 min
    message = render_message(send, e, Settings(), Templates(), now=e.start - left)
    assert message.title.startswith(en if lang == "en" else zh), message.title
    says_live = "is live now" in message.text or "正在直播" in message.text
    assert says_live is live
    if not live:
        assert "starts" in message.text or "开始" in message.text


def test_the_planned_time_is_only_the_default() -> None:
    e = event("en")
    send = reminder(e, -timedelta(minutes=10))
    assert render_message(send, e, Settings(), Templates()).title.startswith(
        "Starting in 10 minutes:"
    )


def test_no_reminder_is_valid_after_the_end() -> None:
    from livepipe.plan import plan
    from livepipe.records import LedgerState

    e = event("en")
    settings = Settings.model_validate(
        {"slots": {"late-soon": {"kind": "reminder", "offset": "-10m", "until": "30d"}}}
    )
    sends = plan([e], LedgerState(), settings, datetime(2026, 1, 1, tzinfo=UTC)).add
    (late,) = [s for s in sends if s.slot == "late-soon"]
    assert late.valid_until == e.end  # "until 30 days after the start" ends at the end
