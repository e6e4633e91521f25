"""Site settings: ``livepipe.toml`` (+ environment for secrets) → typed, validated Settings."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError
from .timeutil import get_zone, parse_duration

CONFIG_NAME = "livepipe.toml"


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSettings(_Model):
    name: str = "livepipe site"
    base_url: str = "http://localhost"
    description: str = ""
    # None means "the page schema's own default" (Asia/Shanghai for KubeSphere pages, else UTC).
    timezone: str | None = None
    default_language: str | None = None
    languages: tuple[str, ...] = ("zh", "en")
    content_dir: str = "content"
    tag_date: str = "2020"

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            get_zone(v)
        return v


class PageSettings(_Model):
    default_duration: Duration = timedelta(hours=1)
    max_page_bytes: int = Field(default=1 << 20, gt=0)
    # Sub-folders (relative to the content root) that hold event pages; empty means all.
    sections: tuple[str, ...] = ()


class CalendarSettings(_Model):
    refresh_interval: Duration = timedelta(hours=1)  # REFRESH-INTERVAL and X-PUBLISHED-TTL
    # A VALARM in the per-event files (never in subscription calendars), e.g. "-10m".
    alarm: Duration | None = None


class FeedSettings(_Model):
    max_items: int = Field(default=50, gt=0)


class WeChatSettings(_Model):
    # Article author (at most 16 characters); default: the first speaker, else the site name.
    author: str | None = None


class Settings(_Model):
    site: SiteSettings = SiteSettings()
    pages: PageSettings = PageSettings()
    calendar: CalendarSettings = CalendarSettings()
    feeds: FeedSettings = FeedSettings()
    wechat: WeChatSettings = WeChatSettings()
    root: Path | None = Field(default=None, exclude=True)

    @property
    def content_root(self) -> Path | None:
        return (self.root / self.site.content_dir) if self.root else None


def find_config(start: Path) -> Path | None:
    """The nearest livepipe.toml at or above ``start`` (a file or a folder)."""
    here = start.resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load_settings(path: Path | None) -> Settings:
    """Read ``path`` (a livepipe.toml) or return the defaults when ``path`` is None."""
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read settings: {exc}", path=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=path) from exc
    try:
        return Settings.model_validate({**data, "root": path.parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{where}: {first['msg']}",
            path=path,
            hint="see the livepipe.toml section of the README",
        ) from exc
