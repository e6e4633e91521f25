"""Every word livepipe writes for people, one catalogue per language: ``en.toml``,
``zh.toml``, ``ja.toml`` here, and a site's own ``i18n/<lang>.toml`` over them (to change a
phrase or add a language). Renderers and templates ask for phrases by key::

    p = phrases("zh", site_root)
    p("message.live", title=e.title)      # "【直播已开始】…"
    p.words("date.weekdays")               # ["周一", …]

and templates call ``t("label.when")``. A key missing from a language falls back to
English; a key missing from English is a RenderError naming it. Values fill ``{name}``
placeholders only (no attribute or index access: a site's catalogue cannot reach into
livepipe), and in HTML templates they are escaped, the phrase itself is not.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from ..errors import RenderError

FALLBACK = "en"
HERE = Path(__file__).resolve().parent
SITE_FOLDER = "i18n"  # a site's own catalogues: <site root>/i18n/<lang>.toml
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Values some catalogues use beyond what English does (the tests check every catalogue
# against English and these).
EXTRA_VALUES: dict[str, frozenset[str]] = {
    "date.day": frozenset({"month"}),  # a month as a number (zh, ja) or by name (en)
    "repeat.date": frozenset({"month"}),
    "repeat.date_year": frozenset({"month"}),
    "repeat.yearly_n": frozenset({"n"}),
    "message.gathered_many": frozenset({"count"}),  # all of them (zh) or the others (en)
    "label.site_time": frozenset({"zone"}),
}


def builtin_languages() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.toml"))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _read(path: Path) -> dict[str, Any]:
    """A catalogue's phrases (flattened); {} when there is none. Read again when it changed
    (`livepipe serve` rebuilds on an edit)."""
    return _read_at(path, _stamp(path))


@functools.lru_cache(maxsize=64)
def _read_at(path: Path, stamp: tuple[int, int] | None) -> dict[str, Any]:
    if stamp is None:
        return {}
    try:
        with path.open("rb") as fh:
            return _flat(tomllib.load(fh))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RenderError(f"{path}: {exc}") from exc


def _flat(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"label": {"when": …}}`` → ``{"label.when": …}``; ``zones`` stays a table."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name != "zones":
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def fill(phrase: str, values: Mapping[str, object], *, html: bool = False) -> str:
    """``{name}`` → its value (escaped for HTML); an unknown name is a RenderError."""
    if "{" not in phrase:  # most phrases (a label, a word): nothing to fill
        return Markup(phrase) if html else phrase

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise RenderError(f"phrase {phrase!r} needs a value for {{{name}}}")
        text = values[name]
        return str(escape(text)) if html else str(text)

    filled = _PLACEHOLDER.sub(value, phrase)
    return Markup(filled) if html else filled


class Phrases:
    """One language's phrases: the site's catalogue over livepipe's, English under both."""

    def __init__(self, lang: str, site_root: Path | None = None) -> None:
        self.lang = lang
        layers = [_read(HERE / f"{FALLBACK}.toml"), _read(HERE / f"{lang}.toml")]
        if site_root is not None:
            folder = site_root / SITE_FOLDER
            layers += [_read(folder / f"{FALLBACK}.toml"), _read(folder / f"{lang}.toml")]
        merged: dict[str, Any] = {}
        for layer in layers:
            for key, value in layer.items():
                if key == "zones" and isinstance(value, dict):
                    value = {**merged.get("zones", {}), **value}
                merged[key] = value
        self._phrases = merged
        self.known = bool(_read(HERE / f"{lang}.toml")) or (
            site_root is not None and bool(_read(site_root / SITE_FOLDER / f"{lang}.toml"))
        )

    def _get(self, key: str) -> Any:
        try:
            return self._phrases[key]
        except KeyError:
            raise RenderError(f"no phrase {key!r} in the {self.lang} catalogue") from None

    def __call__(self, key: str, **values: object) -> str:
        return fill(str(self._get(key)), values)

    def html(self, key: str, **values: object) -> Markup:
        """The phrase for an HTML template: the values escaped, the phrase as written."""
        return Markup(fill(str(self._get(key)), values, html=True))

    def label(self, name: str, **values: object) -> str:
        """A field's name before its value, in text: ``When: `` / ``时间：``."""
        return self(f"label.{name}", **values)

    def line(self, name: str, **values: object) -> str:
        """The label of a chat message's line, with its icon: ``⏰ 时间：``."""
        return self(f"icon.{name}") + self.label(name, **values)

    def strong(self, name: str, **values: object) -> Markup:
        """The label in bold for HTML: ``<strong>When:</strong> `` / ``<strong>时间：</strong>``."""
        text = fill(str(self._get(f"label.{name}")), values, html=True).strip()
        return Markup(f"<strong>{text}</strong>{self('meta.label_gap')}")

    def words(self, key: str) -> list[str]:
        return [str(w) for w in self._get(key)]

    def flag(self, key: str) -> bool:
        return bool(self._get(key))

    def table(self, key: str) -> dict[str, str]:
        """A section as a dict (``serve``: the subscription page's words)."""
        prefix = f"{key}."
        return {k[len(prefix) :]: str(v) for k, v in self._phrases.items() if k.startswith(prefix)}

    def zone(self, zone: str, offset: str) -> str:
        """The zone's name (``北京时间``; ``Beijing time, UTC+08:00``), else the pattern."""
        names: dict[str, str] = self._phrases.get("zones", {})
        pattern = names.get(zone)
        if pattern is None:
            return self("date.zone", zone=zone, offset=offset)
        return fill(pattern, {"offset": offset, "zone": zone})

    def for_template(self, *, html: bool) -> Phrases | HtmlPhrases:
        """``t`` in a template: ``t(key, **values)``, ``t.label(name)``, ``t.flag(key)``…
        (in HTML templates the values are escaped, the phrases are not)."""
        return HtmlPhrases(self) if html else self


class HtmlPhrases:
    """Phrases for an HTML template: every phrase is markup, every value escaped."""

    def __init__(self, phrases: Phrases) -> None:
        self._p = phrases
        self.lang = phrases.lang

    def __call__(self, key: str, **values: object) -> Markup:
        return self._p.html(key, **values)

    def label(self, name: str, **values: object) -> Markup:
        return self._p.html(f"label.{name}", **values)

    def line(self, name: str, **values: object) -> Markup:
        return self._p.html(f"icon.{name}") + self.label(name, **values)

    def strong(self, name: str, **values: object) -> Markup:
        return self._p.strong(name, **values)

    def flag(self, key: str) -> bool:
        return self._p.flag(key)

    def words(self, key: str) -> list[str]:
        return self._p.words(key)


def phrases(lang: str, site_root: Path | None = None) -> Phrases:
    """The phrases of ``lang`` (with the site's own, when ``site_root`` has any; an edit
    to those is seen at once: their files are looked at on each call, except inside
    ``held()``)."""
    if site_root is None:
        return _phrases(lang, None, None, None)
    held = _HELD.get()
    if held is not None and (found := held.get((lang, site_root))) is not None:
        return found
    fallback, own = _site_catalogues(site_root, lang)
    made = _phrases(lang, site_root, _stamp(fallback), _stamp(own))
    if held is not None:
        held[lang, site_root] = made
    return made


# Inside held(): the phrases each language had when first asked for (this thread's, and
# the forked helpers' of a build, which inherit it).
_HELD: contextvars.ContextVar[dict[tuple[str, Path], Phrases] | None] = contextvars.ContextVar(
    "livepipe_phrases_held", default=None
)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """One build reads its catalogues as they were when it first asked: each event asks for
    its phrases dozens of times, and looking at the site's two catalogue files at each ask
    was 5 % of a cold build. (An edit made during a build is seen by the next one.)"""
    token = _HELD.set({})
    try:
        yield
    finally:
        _HELD.reset(token)


@functools.lru_cache(maxsize=64)
def _site_catalogues(site_root: Path, lang: str) -> tuple[Path, Path]:
    """Where a site keeps its catalogues (made once: each message asks several times)."""
    folder = site_root / SITE_FOLDER
    return folder / f"{FALLBACK}.toml", folder / f"{lang}.toml"


@functools.lru_cache(maxsize=64)
def _phrases(lang: str, site_root: Path | None, *stamps: object) -> Phrases:
    return Phrases(lang, site_root)


def placeholders(phrase: object) -> set[str]:
    return set(_PLACEHOLDER.findall(phrase)) if isinstance(phrase, str) else set()


def catalogue(path: Path) -> dict[str, Any]:
    """A catalogue file's keys (flattened), for checks."""
    return _read(path)


__all__ = [
    "EXTRA_VALUES",
    "FALLBACK",
    "HtmlPhrases",
    "Phrases",
    "builtin_languages",
    "catalogue",
    "fill",
    "held",
    "phrases",
    "placeholders",
]
