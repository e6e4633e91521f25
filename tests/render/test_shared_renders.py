"""The channels of one event due together share one rendering of its message (a burst of
250 events × 4 channels renders 250 times), but only when every input is equal: the words
that depend on the moment of sending are computed for each send, and a recurring event's
message (its next dates follow the clock) is never shared."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from livepipe.config import Settings
from livepipe.models import SlotKind
from livepipe.render import messages
from livepipe.render.messages import render_message
from livepipe.render.templating import Templates
from livepipe.send import SharedRenders
from livepipe.site import load_path

from ..support import CONTENT, make_send

START = datetime(2026, 12, 10, 12, tzinfo=UTC)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every rendering actually made."""
    calls: list[Any] = []
    real = messages._rendered

    def counting(*args: Any) -> dict[str, Any]:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(messages, "_rendered", counting)
    return calls


def reminder(event: Any, channel: str, now: datetime, shared: SharedRenders) -> Any:
    send = make_send(
        uid=event.uid, slot="starting-soon", kind=SlotKind.REMINDER, channel=channel,
        due=START - timedelta(minutes=10), valid_until=START,
    )  # fmt: skip
    return render_message(
        send, event, Settings(), TEMPLATES, now=now, parts={"html", "article"}, reuse=shared
    )


TEMPLATES = Templates()


def test_the_channels_of_one_event_share_one_rendering(made: list[Any]) -> None:
    event = dataclasses.replace(
        load_path(CONTENT).events[0], start=START, end=START + timedelta(hours=1)
    )
    shared = SharedRenders()
    now = START - timedelta(minutes=10)
    first, *others = [reminder(event, c, now, shared) for c in ("team", "wecom", "email", "hook")]
    assert len(made) == 1
    assert first.title.startswith("【10 分钟后开始】")  # the bundled page is in Chinese
    for other in others:  # the same words, each the message of its own send
        assert (other.title, other.text, other.article) == (first.title, first.text, first.article)
    assert [m.channel for m in (first, *others)] == ["team", "wecom", "email", "hook"]
    assert len({m.key for m in (first, *others)}) == 4


def test_a_later_moment_gets_its_own_words(made: list[Any]) -> None:
    event = dataclasses.replace(
        load_path(CONTENT).events[0], start=START, end=START + timedelta(hours=1)
    )
    shared = SharedRenders()
    early = reminder(event, "team", START - timedelta(minutes=10), shared)
    late = reminder(event, "wecom", START - timedelta(minutes=3), shared)  # after an outage
    assert len(made) == 2
    assert early.title.startswith("【10 分钟后开始】")
    assert late.title.startswith("【3 分钟后开始】")


def test_another_version_of_the_event_is_rendered_again(made: list[Any]) -> None:
    event = dataclasses.replace(
        load_path(CONTENT).events[0], start=START, end=START + timedelta(hours=1)
    )
    shared = SharedRenders()
    now = START - timedelta(minutes=10)
    before = reminder(event, "team", now, shared)
    after = reminder(dataclasses.replace(event, title="Renamed talk"), "wecom", now, shared)
    assert len(made) == 2
    assert "Renamed talk" in after.title + after.text
    assert "Renamed talk" not in before.title + before.text


def test_a_recurring_event_is_never_shared(made: list[Any]) -> None:
    event = dataclasses.replace(
        load_path(CONTENT).events[0], start=START, end=START + timedelta(hours=1),
        rrule="FREQ=WEEKLY;COUNT=5",
    )  # fmt: skip
    shared = SharedRenders()
    now = START - timedelta(minutes=10)
    for channel in ("team", "wecom"):
        reminder(event, channel, now, shared)
    assert len(made) == 2


def test_renderings_are_held_only_for_their_moment() -> None:
    """A long-running `up` keeps no rendering once its few seconds have passed (it kept up
    to 1,024 articles, growing for hours)."""
    clock = [100.0]
    shared = SharedRenders(clock=lambda: clock[0])
    made: list[int] = []

    def make(i: int) -> dict[str, Any]:
        made.append(i)
        return {"article": f"<p>{i}</p>" * 1000}

    for i in range(50):
        shared(("event", i), lambda i=i: make(i))
    clock[0] += SharedRenders.SECONDS - 0.5
    assert shared(("event", 7), lambda: make(-1))["article"].startswith("<p>7</p>")
    assert len(shared) == 50 and -1 not in made  # still its moment: shared
    clock[0] += 1.0
    shared(("event", 7), lambda: make(7))  # its moment passed: made again
    assert made.count(7) == 2
    assert len(shared) == 1  # and the 49 others are gone


def test_templates_compiled_ahead_are_not_compiled_again_by_a_send(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatcher compiles the message templates before anything is due: the first
    burst renders without compiling; a site template that does not compile is skipped
    there and fails the send that renders it, with the reason."""
    import jinja2

    from livepipe.dispatch import MESSAGE_TEMPLATES
    from livepipe.errors import RenderError

    site = tmp_path / "templates"
    (site / "messages").mkdir(parents=True)
    (site / "messages" / "announce.txt").write_text("{{ e.title }\n")  # does not compile
    templates = Templates(site)
    event = load_path(CONTENT).events[0]
    # livepipe's messages & co., in the site's languages (its phrases folded in)
    assert templates.compile_ahead(MESSAGE_TEMPLATES, Settings().site.languages) >= 15
    compiled: list[str | None] = []
    real = jinja2.Environment._compile

    def counting(self: jinja2.Environment, source: str, filename: str) -> Any:
        compiled.append(filename)
        return real(self, source, filename)

    monkeypatch.setattr(jinja2.Environment, "_compile", counting)
    for kind, slot in ((SlotKind.REMINDER, "starting-soon"), (SlotKind.CHANGED, "changed")):
        send = make_send(uid=event.uid, slot=slot, kind=kind, channel="ops", due=START)
        message = render_message(
            send, event, Settings(), templates, now=START, parts={"html", "article"}
        )
        assert message.text and message.article
        assert message.html or kind is SlotKind.REMINDER  # an email for changes only
    assert compiled == []
    broken = make_send(uid=event.uid, slot="announce", kind=SlotKind.ANNOUNCE, channel="ops")
    with pytest.raises(RenderError, match="template"):
        render_message(broken, event, Settings(), templates, now=START)
