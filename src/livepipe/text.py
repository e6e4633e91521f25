"""Control characters: the one place that says which are removed from page text and output.

Pages may carry C0/C1 control characters (a ``"\\u001b[31m"`` YAML escape in a title, a NUL
in a tag, a raw ESC in the body). XML 1.0 forbids most of them, ICS parsers split lines on a
lone CR, and a terminal obeys ESC sequences. So they are removed where a page is read
(``check`` and ``build`` see the same text) and again from everything printed.
Tab and line feed stay; CR LF and a lone CR become LF.
"""

from __future__ import annotations

import functools
import re
from typing import Any

# C0 except TAB and LF, DEL, and C1; CR is handled apart (it becomes a line break).
CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CR = re.compile("\r\n?")
# Also the line breaks: for one-line values such as a path, nothing may end the line.
PATH_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean(text: str) -> str:
    """``text`` without control characters (tab and line feed kept, CR turned into LF)."""
    if "\r" in text:
        text = _CR.sub("\n", text)
    return CONTROLS.sub("", text)


def has_controls(text: str) -> bool:
    return "\r" in text or CONTROLS.search(text) is not None


def clean_value(value: object) -> object:
    """A front-matter value with every string in it cleaned (mappings, lists: recursively)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean_value(k): clean_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    return value


def printable(text: str) -> str:
    """For a terminal: control characters (ESC included) shown as nothing, lines kept."""
    return clean(text)


def console(*, stderr: bool = False, soft_wrap: bool = False) -> Any:
    """A rich Console that removes control characters from every text it prints (table
    cells included): page titles and remote answers never drive the terminal. Rich's own
    styling is added after, so colours still work."""
    return _safe_console_class()(stderr=stderr, soft_wrap=soft_wrap)


@functools.cache
def _safe_console_class() -> type:
    from rich.console import Console  # imported on first use: the core does not need rich

    class SafeConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Any:
            return super().render_str(clean(text), **kwargs)

    return SafeConsole
