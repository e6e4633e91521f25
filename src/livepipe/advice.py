"""What `check` says about a site's settings and its pages together, beyond what is wrong
with either alone: slots left on the file outbox while others go to real channels, and
titles longer than a channel the site has shows whole. Pure: settings and events in,
problems out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from .config import Settings, toml_line
from .i18n import builtin_languages, phrases
from .models import Event, Problem, Severity

OUTBOX = "outbox"


def settings_problems(settings: Settings) -> list[Problem]:
    """Warnings about livepipe.toml (its path and line)."""
    return list(_outbox_fallback(settings))


def _outbox_fallback(settings: Settings) -> Iterator[Problem]:
    """Some slots go to real channels and others, never routed, to the default file outbox:
    a newcomer who routed announcements to a webhook would never learn that reschedules
    went to a file. A slot routed to the outbox on purpose (``channels = ["outbox"]``) is
    not warned about."""
    on = {name: s for name, s in settings.slots.items() if s.enabled}
    real = sorted(n for n, s in on.items() if set(s.channels) - {OUTBOX})
    left = sorted(
        n for n, s in on.items() if s.channels == (OUTBOX,) and "channels" not in s.model_fields_set
    )
    if not real or not left:
        return
    path = settings.source
    text = path.read_text(encoding="utf-8", errors="replace") if path else ""
    path_shown = str(path) if path else "livepipe.toml"
    yield Problem(
        path_shown,
        toml_line(text, ("slots", real[0])) if text else 1,  # where the routing began
        Severity.WARNING,
        "outbox-fallback",
        f"slots {', '.join(left)} still go to the file outbox ({_outbox_path(settings)}); "
        f"only {', '.join(real)} go to your channels",
        f'give them channels (e.g. [slots.{left[0]}] channels = ["{_first_real(settings)}"]),'
        f' turn them off (enabled = false), or say channels = ["{OUTBOX}"] to keep the files',
    )


def _outbox_path(settings: Settings) -> str:
    outbox = settings.channels.get(OUTBOX)
    return str(getattr(outbox.options, "path", ".livepipe/outbox")) if outbox else OUTBOX


def _first_real(settings: Settings) -> str:
    return next((n for n, c in settings.channels.items() if c.type != OUTBOX), "CHANNEL")


def language_problems(
    events: Iterable[Event], settings: Settings, shown: Mapping[str, str]
) -> Iterator[Problem]:
    """A language with no catalogue (livepipe's or the site's ``i18n/<lang>.toml``): its
    pages' messages and files would be in English; said once, on its first page."""
    seen: set[str] = set()
    for e in sorted(events, key=lambda e: e.source):
        if e.lang in seen:
            continue
        seen.add(e.lang)
        if not phrases(e.lang, settings.root).known:
            yield Problem(
                shown.get(e.source, e.source),
                1,
                Severity.WARNING,
                "no-catalogue",
                f"livepipe has no words for {e.lang!r}: this page's messages, calendars and "
                "feeds say their labels in English",
                f"add i18n/{e.lang}.toml to the site (copy livepipe's i18n/en.toml and "
                f"translate it), or list only languages livepipe has: "
                f"{', '.join(builtin_languages())}",
            )


def title_limits(settings: Settings) -> list[tuple[int, str]]:
    """(the longest title shown whole, "channel (type)") for each channel the site sends
    to that has such a limit, shortest first."""
    used = {c for s in settings.slots.values() if s.enabled for c in s.channels}
    out = []
    for name, channel in settings.channels.items():
        limit = type(channel.options).title_max
        if channel.enabled and name in used and limit is not None:
            out.append((limit, f"{name} ({channel.type})"))
    return sorted(out)


def title_problems(event: Event, limits: list[tuple[int, str]]) -> Iterator[tuple[str, str, str]]:
    """(code, message, hint) when the title is longer than a channel shows whole."""
    over = [(limit, who) for limit, who in limits if len(event.title) > limit]
    if not over:
        return
    from .render.html import truncate  # only for a title that is too long

    limit = over[0][0]
    yield (
        "title-too-long",
        f"title has {len(event.title)} characters; "
        + ", ".join(f"{who} shows {n}" for n, who in over),
        f"shorten the title, or it is cut to {truncate(event.title, limit)!r}",
    )
