"""Read the Markdown body: `##` sections, images, links, list items, Q&A, speakers."""

from __future__ import annotations

import re

from ..models import QA, Section, Speaker

_HEADING = re.compile(r"^(#{2,3})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_IMG = re.compile(r"<img\b[^>]*\bsrc=[\"']([^\"']+)", re.IGNORECASE)
_URL = re.compile(r"(?:https?:)?//[^\s<>()\[\]\"'`，。）]+", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*\S)")
_Q_PREFIX = re.compile(r"^Q\s*\d*\s*[：:.、]\s*", re.IGNORECASE)
_A_PREFIX = re.compile(r"^A\s*[：:]\s*", re.IGNORECASE)
_NAME_SPLIT = re.compile(r"[，,（(、。；;：:]")


def split_sections(body: str) -> tuple[Section, ...]:
    """The `## ` sections of a body (text before the first heading is dropped)."""
    sections: list[Section] = []
    heading: str | None = None
    buf: list[str] = []
    in_fence = False
    for line in body.split("\n"):
        # (the substring tests skip the patterns on the lines they cannot match)
        if ("```" in line or "~~~" in line) and _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence or not line.startswith("##") else _HEADING.match(line)
        if m and len(m.group(1)) == 2:
            if heading is not None:
                sections.append(Section(heading, "\n".join(buf).strip()))
            heading, buf = m.group(2).strip(), []
        else:
            buf.append(line)
    if heading is not None:
        sections.append(Section(heading, "\n".join(buf).strip()))
    return tuple(sections)


def find_section(sections: tuple[Section, ...], *names: str) -> Section | None:
    """The first section whose heading (spaces ignored) is one of ``names``."""
    wanted = [n.replace(" ", "").lower() for n in names]
    for name in wanted:
        for section in sections:
            if section.heading.replace(" ", "").lower() == name:
                return section
    return None


def images(markdown: str) -> list[str]:
    return [*_IMAGE.findall(markdown), *_HTML_IMG.findall(markdown)]


def first_url(markdown: str) -> str | None:
    without_images = _IMAGE.sub("", markdown)
    m = _URL.search(without_images)
    return m.group(0).rstrip(".,;") if m else None


def list_items(markdown: str) -> tuple[str, ...]:
    return tuple(m.group(1) for line in markdown.split("\n") if (m := _LIST_ITEM.match(line)))


def paragraphs(markdown: str) -> list[str]:
    """Non-empty paragraphs, images removed, whitespace inside a paragraph collapsed."""
    out = []
    for block in re.split(r"\n\s*\n", markdown):
        text = " ".join(_IMAGE.sub("", block).split())
        if text:
            out.append(text)
    return out


def speakers(markdown: str) -> tuple[Speaker, ...]:
    """Speakers from a bio section: one per paragraph, the name is the first clause.

    ``裴振飞，广州视源…工程师`` → Speaker("裴振飞", bio="裴振飞，广州视源…工程师").
    A photo image right after a paragraph belongs to it.
    """
    found: list[Speaker] = []
    for block in re.split(r"\n\s*\n", markdown):
        pics = images(block)
        text = " ".join(_IMAGE.sub("", block).split())
        if not text:
            if pics and found and found[-1].photo is None:
                found[-1] = Speaker(found[-1].name, found[-1].bio, pics[0])
            continue
        text = re.sub(r"^[-*]\s+", "", text).strip("*").strip()
        name = _NAME_SPLIT.split(text, maxsplit=1)[0].strip().strip("*")
        if len(name) > 24:  # no clear name: keep the bio, leave the name empty
            name = ""
        found.append(Speaker(name, text, pics[0] if pics else None))
    return tuple(found)


def qa_items(markdown: str) -> tuple[QA, ...]:
    """``### Q1：question`` headings anywhere in the body, each followed by its answer.

    Pages put them under ``## Q & A`` or, after an edit, straight under another section.
    """
    items: list[QA] = []
    question: str | None = None
    buf: list[str] = []
    for line in markdown.split("\n"):
        m = _HEADING.match(line) if line.startswith("##") else None  # the pattern's own start
        if m:
            if question is not None:
                items.append(_qa(question, buf))
            is_q = len(m.group(1)) == 3 and _Q_PREFIX.match(m.group(2))
            question, buf = (m.group(2), []) if is_q else (None, [])
        elif question is not None:
            buf.append(line)
    if question is not None:
        items.append(_qa(question, buf))
    return tuple(items)


def before_subsections(markdown: str) -> str:
    """The text of a section up to its first ``###`` heading."""
    m = re.search(r"^###[ \t]", markdown, re.MULTILINE)
    return markdown[: m.start()].strip() if m else markdown


def _qa(question: str, buf: list[str]) -> QA:
    answer = "\n".join(buf).strip()
    # A question may continue on the lines before "A：".
    m = re.search(r"^A\s*[：:]", answer, re.MULTILINE | re.IGNORECASE)
    if m and m.start() > 0:
        question = f"{question} {' '.join(answer[: m.start()].split())}"
        answer = answer[m.start() :]
    return QA(_Q_PREFIX.sub("", question.strip()), _A_PREFIX.sub("", answer).strip())
