"""Generated WeChat covers: the title and the date on the site's colours, 2.35:1 (900×383,
the size WeChat shows a first article's cover at), rendered with Pillow and a CJK font.

Most KubeSphere pages have no cover image (158 of 187); without ``default_cover`` the WeChat
channel makes one of these instead of failing the send. The font is the configured one
(``cover_font``, relative to the site root) or the first CJK font found on the system
(Noto Sans CJK, Source Han Sans, WenQuanYi, Droid Sans Fallback …); none is a clear error.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import ConfigError
from ..models import Event
from . import timefmt

SIZE = (900, 383)  # 2.35:1
DEFAULT_COLORS = ("#1a5fb4", "#ffffff")  # background, text
FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
    Path("/System/Library/Fonts"),
    Path("/Library/Fonts"),
)
# File names of CJK fonts, best first (bold faces read better on a small cover).
CJK_FONTS = (
    "NotoSansCJK-Bold.ttc",
    "NotoSansCJKsc-Bold.otf",
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "NotoSansSC-Bold.otf",
    "SourceHanSansSC-Bold.otf",
    "SourceHanSans-Bold.ttc",
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "DroidSansFallbackFull.ttf",
    "PingFang.ttc",
)


def find_font(
    configured: str | None, root: Path | None, search: Iterable[Path] = FONT_DIRS
) -> Path:
    """The font to draw with: ``configured`` (must exist), else the first known CJK font
    below ``search``; ConfigError when there is none."""
    if configured:
        from ..sitefiles import site_file

        found_file = site_file(root, configured) if root is not None else None
        if found_file is None:
            raise ConfigError(
                f"cover_font {configured} is not a font file inside the site",
                hint="point cover_font at a .ttf/.otf/.ttc with Chinese glyphs below the "
                "folder of livepipe.toml",
            )
        return found_file
    found: dict[str, Path] = {}
    for folder in search:
        if folder.is_dir():
            for name in CJK_FONTS:
                if name not in found:
                    hit = next(iter(sorted(folder.rglob(name))), None)
                    if hit is not None:
                        found[name] = hit
    for name in CJK_FONTS:
        if name in found:
            return found[name]
    raise ConfigError(
        "no CJK font found for the generated WeChat cover",
        hint="install one (Debian: apt-get install fonts-noto-cjk), set cover_font = "
        '"path/to/font.otf" on the channel, or set default_cover',
    )


def _wrap(draw: object, text: str, font: object, width: int, lines: int) -> list[str]:
    """Greedy wrap by measured width: at spaces in Latin text, between any two CJK
    characters (a word wider than a line is cut anywhere); the last line ends in … when
    the text does not fit in ``lines``."""
    from PIL import ImageDraw, ImageFont

    assert isinstance(draw, ImageDraw.ImageDraw) and isinstance(font, ImageFont.FreeTypeFont)
    out: list[str] = []
    current = ""
    rest = _tokens(text)
    while rest:
        token = rest[0]
        if not current and draw.textlength(token.strip(), font=font) > width and len(token) > 1:
            rest[:1] = list(token)  # a word wider than the line: cut it anywhere
            continue
        trial = current + token
        if current and draw.textlength(trial.rstrip(), font=font) > width:
            out.append(current.rstrip())
            current = ""
            if len(out) == lines:
                break
            continue
        current = trial if current else token.lstrip()
        rest.pop(0)
    if current:
        out.append(current.rstrip())
    if rest:  # cut short: the last line says so
        last = out[-1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1]
        out[-1] = last.rstrip() + "…"
    return out


def _tokens(text: str) -> list[str]:
    """Words (with their trailing space) for Latin text; single characters for CJK."""
    out: list[str] = []
    word = ""
    for ch in text:
        if ord(ch) >= 0x2E80:  # CJK and full-width: a break may come anywhere
            if word:
                out.append(word)
                word = ""
            out.append(ch)
        elif ch == " ":
            out.append(word + " ")
            word = ""
        else:
            word += ch
    if word:
        out.append(word)
    return out


def cover_png(
    e: Event,
    font_path: Path,
    *,
    site_name: str = "",
    colors: Sequence[str] = DEFAULT_COLORS,
    zone: str | None = None,
) -> bytes:
    """The cover of ``e`` as PNG bytes: title (up to three lines), date and time in the
    site's zone, the site's name."""
    from PIL import Image, ImageDraw, ImageFont

    background, ink = (colors[0], colors[1]) if len(colors) >= 2 else DEFAULT_COLORS
    image = Image.new("RGB", SIZE, background)
    draw = ImageDraw.Draw(image)
    margin = 56
    title_font = ImageFont.truetype(str(font_path), 52)
    small = ImageFont.truetype(str(font_path), 26)
    lines = _wrap(draw, e.title, title_font, SIZE[0] - 2 * margin, 3)
    y = margin
    for line in lines:
        draw.text((margin, y), line, font=title_font, fill=ink)
        y += 66
    when = timefmt.when(e, zone=zone) if zone and zone != e.timezone else timefmt.when(e)
    bottom = SIZE[1] - margin - 30
    draw.text((margin, bottom), when, font=small, fill=ink)
    if site_name:
        width = draw.textlength(site_name, font=small)
        draw.text((SIZE[0] - margin - width, bottom - 40), site_name, font=small, fill=ink)
    draw.rectangle((margin, bottom - 14, margin + 80, bottom - 10), fill=ink)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
